import { describe, expect, it } from 'vitest'
import type { CliServer } from './helpers/cli-process.js'
import {
  allSent,
  api,
  expectGapFree,
  nodeClient,
  sequencerOf,
  startNode as startClusterNode,
  useClusterServices,
} from './helpers/cluster-nodes.js'
import { until } from './helpers/server.js'

/**
 * Several `ticks-server` processes over a real PostgreSQL and a real Redis (DESIGN section 10):
 * any node serves any client, one node stamps, a killed or paused owner is replaced within its
 * lease, and nothing a client saw as sent is lost or stamped twice.
 */

const services = useClusterServices()

const startNode = (database: string, nodeId: string): Promise<CliServer> =>
  startClusterNode({ database, redisUrl: services.redis.url, nodeId })

describe('several ticks-server processes over PostgreSQL and Redis', () => {
  it('serve any client on any node; a killed owner is replaced and its clients go on elsewhere', {
    timeout: 90_000,
  }, async () => {
    const database = await services.postgres.createDatabase()
    const nodes = await Promise.all(['a', 'b', 'c'].map((name) => startNode(database, name)))
    const created = await api(nodes[0]!, '/api/conversations', 'alice', {
      title: 'T',
      members: ['bob', 'carol'],
    })
    const id = created.body.id as string
    const clients = await Promise.all([
      nodeClient(nodes[0]!, id, 'alice'),
      nodeClient(nodes[1]!, id, 'bob'),
      nodeClient(nodes[2]!, id, 'carol'),
    ])
    await until(() => clients.every((c) => c.conversation.title() === 'T'), 10_000, 'every client synced')
    const texts: string[] = []
    for (let round = 0; round < 3; round++) {
      for (const [n, c] of clients.entries()) {
        const text = `round ${round} from ${n}`
        c.conversation.send(text)
        texts.push(text)
      }
    }
    await until(() => allSent(clients, texts), 15_000, 'every message sent on every node')

    const owner = await sequencerOf(nodes)
    expect(owner).toBeDefined()
    const survivors = nodes.filter((node) => node !== owner)
    owner!.process.kill('SIGKILL')
    await owner!.exited
    // Its clients reconnect to another node (their URL list's next entry); everyone writes on.
    const ownerIndex = nodes.indexOf(owner!)
    await clients[ownerIndex]!.moveTo(survivors[0]!)
    for (const [n, c] of clients.entries()) {
      const text = `after the kill from ${n}`
      c.conversation.send(text)
      texts.push(text)
    }
    await until(() => allSent(clients, texts), 20_000, 'the backlog stamped by a new owner')
    // /api/state is cached for up to 5 s per node: ask until a fresh answer names the new owner.
    await until(
      async () => (await sequencerOf(survivors)) !== undefined,
      10_000,
      'a survivor to say it stamps',
    )
    await expectGapFree(survivors[1]!, id, texts)
    for (const c of clients) c.destroy()
    for (const node of survivors) node.process.kill('SIGTERM')
  })

  it('a paused owner cannot stamp when it wakes; messages flow without Redis, from the store', {
    timeout: 90_000,
  }, async () => {
    const database = await services.postgres.createDatabase()
    const nodes = await Promise.all(['a', 'b'].map((name) => startNode(database, name)))
    const created = await api(nodes[0]!, '/api/conversations', 'alice', { title: 'T', members: ['bob'] })
    const id = created.body.id as string
    const alice = await nodeClient(nodes[0]!, id, 'alice')
    const bob = await nodeClient(nodes[1]!, id, 'bob')
    await until(() => [alice, bob].every((c) => c.conversation.title() === 'T'), 10_000, 'both synced')
    const texts = ['hello']
    alice.conversation.send('hello')
    await until(() => allSent([alice, bob], texts), 15_000, 'first message sent')
    const owner = (await sequencerOf(nodes))!
    const other = nodes.find((node) => node !== owner)!
    const onOwner = owner === nodes[0] ? alice : bob
    const onOther = onOwner === alice ? bob : alice

    owner.process.kill('SIGSTOP')
    onOther.conversation.send('while the owner sleeps')
    texts.push('while the owner sleeps')
    await until(() => allSent([onOther], texts), 15_000, 'the other node to take over and stamp')
    owner.process.kill('SIGCONT')
    onOwner.conversation.send('after it woke')
    texts.push('after it woke')
    await until(() => allSent([alice, bob], texts), 20_000, 'everything sent everywhere')
    await expectGapFree(other, id, texts)

    await services.redis.stop()
    alice.conversation.send('without redis')
    texts.push('without redis')
    await until(() => allSent([alice, bob], texts), 20_000, 'sent by polling the store')
    await services.redis.start()
    bob.conversation.send('redis is back')
    texts.push('redis is back')
    await until(() => allSent([alice, bob], texts), 20_000, 'sent after Redis came back')
    await expectGapFree(owner, id, texts)
    alice.destroy()
    bob.destroy()
    for (const node of nodes) node.process.kill('SIGTERM')
  })
})

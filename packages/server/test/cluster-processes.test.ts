import { Conversation } from '@ticks/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { type CliServer, killCliServers, startCli } from './helpers/cli-process.js'
import { startPostgres, type TestPostgres } from './helpers/postgres.js'
import { startRedis, type TestRedis } from './helpers/redis.js'
import { JWT_SECRET, tokenFor, until } from './helpers/server.js'

/**
 * Several `ticks-server` processes over a real PostgreSQL and a real Redis (DESIGN section 10):
 * any node serves any client, one node stamps, a killed or paused owner is replaced within its
 * lease, and nothing a client saw as sent is lost or stamped twice.
 */

const LEASE = ['--lease-ms', '1500', '--lease-renew-ms', '250']

let postgres: TestPostgres
let redis: TestRedis
beforeAll(async () => {
  ;[postgres, redis] = await Promise.all([startPostgres(), startRedis()])
}, 60_000)
afterAll(async () => {
  killCliServers()
  await Promise.all([postgres?.close(), redis?.close()])
})

const startNode = (database: string, nodeId: string): Promise<CliServer> =>
  startCli([
    '--store',
    database,
    '--redis',
    redis.url,
    '--node-id',
    nodeId,
    ...LEASE,
    '--jwt-secret',
    JWT_SECRET,
  ])

interface Client {
  doc: Y.Doc
  conversation: Conversation
  provider: WebsocketProvider
  /** Point the client at another node (its URL list's next entry), keeping its document. */
  moveTo(node: CliServer): Promise<void>
  destroy(): void
}

/** A stock y-websocket client with the Ticks model, as an app would run it. */
async function client(node: CliServer, id: string, userId: string): Promise<Client> {
  const doc = new Y.Doc({ guid: id })
  const conversation = new Conversation(doc, { userId, replicaId: `${userId}-${doc.clientID}` })
  const connect = async (target: CliServer) =>
    new WebsocketProvider(`${target.url.replace(/^http/, 'ws')}/sync`, id, doc, {
      params: { token: await tokenFor(userId) },
      WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
      disableBc: true,
    })
  const self: Client = {
    doc,
    conversation,
    provider: await connect(node),
    async moveTo(target) {
      self.provider.destroy()
      self.provider = await connect(target)
    },
    destroy() {
      self.provider.destroy()
      conversation.destroy()
    },
  }
  return self
}

async function api(node: CliServer, path: string, user: string, body?: unknown) {
  const response = await fetch(`${node.url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      authorization: `Bearer ${await tokenFor(user)}`,
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  })
  // biome-ignore lint/suspicious/noExplicitAny: REST bodies, checked by the assertions
  return { status: response.status, body: (await response.json()) as any }
}

/** Which of the nodes stamps conversations now, by their /api/state (it is per node). */
async function sequencerOf(nodes: CliServer[]): Promise<CliServer | undefined> {
  for (const node of nodes) {
    const state = await api(node, '/api/state', 'alice').catch(() => undefined)
    if (state?.body.sequencing > 0) return node
  }
  return undefined
}

const allSent = (clients: Client[], texts: string[]) =>
  clients.every((c) => texts.every((text) => c.conversation.messages().some((m) => m.text === text && m.seq)))

/** The stored conversation, as a third node reads it: every message once, seqs 1…n. */
async function expectGapFree(node: CliServer, id: string, texts: string[]) {
  const { status, body } = await api(node, `/api/conversations/${id}`, 'alice')
  expect(status).toBe(200)
  const messages = body.messages as { text: string; seq: number }[]
  expect(messages.map((m) => m.text).sort()).toEqual([...texts].sort())
  expect(messages.map((m) => m.seq)).toEqual(messages.map((_, i) => i + 1))
}

describe('several ticks-server processes over PostgreSQL and Redis', () => {
  it('serve any client on any node; a killed owner is replaced and its clients go on elsewhere', {
    timeout: 90_000,
  }, async () => {
    const database = await postgres.createDatabase()
    const nodes = await Promise.all(['a', 'b', 'c'].map((name) => startNode(database, name)))
    const created = await api(nodes[0]!, '/api/conversations', 'alice', {
      title: 'T',
      members: ['bob', 'carol'],
    })
    const id = created.body.id as string
    const clients = await Promise.all([
      client(nodes[0]!, id, 'alice'),
      client(nodes[1]!, id, 'bob'),
      client(nodes[2]!, id, 'carol'),
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
    const database = await postgres.createDatabase()
    const nodes = await Promise.all(['a', 'b'].map((name) => startNode(database, name)))
    const created = await api(nodes[0]!, '/api/conversations', 'alice', { title: 'T', members: ['bob'] })
    const id = created.body.id as string
    const alice = await client(nodes[0]!, id, 'alice')
    const bob = await client(nodes[1]!, id, 'bob')
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

    await redis.stop()
    alice.conversation.send('without redis')
    texts.push('without redis')
    await until(() => allSent([alice, bob], texts), 20_000, 'sent by polling the store')
    await redis.start()
    bob.conversation.send('redis is back')
    texts.push('redis is back')
    await until(() => allSent([alice, bob], texts), 20_000, 'sent after Redis came back')
    await expectGapFree(owner, id, texts)
    alice.destroy()
    bob.destroy()
    for (const node of nodes) node.process.kill('SIGTERM')
  })
})

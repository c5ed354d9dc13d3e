import { afterEach, describe, expect, it } from 'vitest'
import { MemoryStore } from '../src/index.js'
import { LocalPubSub } from '../src/relay/local-pubsub.js'
import { type MuxClient, muxClient } from './helpers/mux-client.js'
import {
  type StockClient,
  startTestServer,
  stockClient,
  type TestServer,
  tokenFor,
  until,
} from './helpers/server.js'

/** Issue 14: the inbox feed on the multiplexed socket, from the store's summaries alone. */
describe('the inbox feed', () => {
  const servers: TestServer[] = []
  const clients: (MuxClient | StockClient)[] = []
  afterEach(async () => {
    for (const client of clients.splice(0)) 'socket' in client ? client.close() : client.destroy()
    for (const server of servers.splice(0)) await server.close()
  })

  const post = async (server: TestServer, path: string, user: string, body: unknown) => {
    const response = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenFor(user)}` },
      body: JSON.stringify(body),
    })
    return (await response.json()) as { id: string }
  }
  const metric = async (server: TestServer, name: string) =>
    Number(
      (await server.app.inject({ url: '/metrics' })).body
        .split('\n')
        .find((line) => line.startsWith(`${name} `))
        ?.split(' ')[1],
    )

  it('lists every conversation without loading one, then shows new ones and unread counts as they change', async () => {
    const server = await startTestServer()
    servers.push(server)
    const ids: string[] = []
    for (let i = 0; i < 200; i++)
      ids.push(await server.conversation(i % 2 ? 'alice' : 'bob', { alice: 'member', bob: 'member' }))
    const alice = await muxClient(server, 'alice')
    clients.push(alice)
    alice.subscribeInbox()
    await until(() => alice.inboxMessages.length > 0, 5000, 'the full list')
    expect(alice.inboxMessages[0]).toMatchObject({ type: 'full' })
    expect(alice.inbox.size).toBe(200)
    expect([...alice.inbox.values()].every((entry) => entry.unread === 0 && entry.title === 'Test')).toBe(
      true,
    )
    expect(await metric(server, 'ticks_rooms')).toBe(0)
    expect(await metric(server, 'ticks_sockets')).toBe(1)

    // Someone else creates a conversation with alice: it appears at once, no polling.
    const created = await post(server, '/api/conversations', 'carol', {
      title: 'From carol',
      members: ['alice'],
    })
    await until(() => alice.inbox.has(created.id), 5000, 'the new conversation in the feed')
    expect(alice.inbox.get(created.id)).toMatchObject({ title: 'From carol', unread: 0, readSeq: 0 })

    // Messages from others raise the count; alice's own do not.
    for (const text of ['one', 'two', 'three']) {
      await post(server, `/api/conversations/${created.id}/messages`, 'carol', { text })
    }
    await post(server, `/api/conversations/${created.id}/messages`, 'alice', { text: 'mine' })
    await until(() => alice.inbox.get(created.id)?.lastMessage?.text === 'mine', 5000, 'the last message')
    expect(alice.inbox.get(created.id)).toMatchObject({ unread: 3 })

    // Alice reads on another device (a stock client): the count falls on this one.
    const phone = await stockClient(server, created.id, 'alice')
    clients.push(phone)
    await until(() => phone.conversation.messages().length === 4, 5000, 'the phone synced')
    phone.conversation.markRead()
    await until(() => alice.inbox.get(created.id)?.unread === 0, 5000, 'read elsewhere')
    expect(alice.inbox.get(created.id)?.readSeq).toBe(4)
  })

  it('says when the user was removed from a conversation', async () => {
    const server = await startTestServer()
    servers.push(server)
    const id = await server.conversation('alice', { bob: 'member' })
    const bob = await muxClient(server, 'bob')
    const alice = await stockClient(server, id, 'alice')
    clients.push(bob, alice)
    bob.subscribeInbox()
    await until(() => bob.inbox.has(id), 5000, 'listed')
    await until(() => alice.provider.synced, 5000, 'alice synced')
    alice.doc.getMap('meta').delete('member|bob')
    await until(() => !bob.inbox.has(id), 5000, 'removed from the feed')
    expect(bob.inboxMessages.at(-1)).toEqual({ type: 'removed', id })
  })

  it('reaches feeds on other nodes through the relay', async () => {
    const store = new MemoryStore()
    const relay = new LocalPubSub()
    const options = { store, relay, cluster: { leaseMs: 400, renewMs: 50, pollMs: 100 } }
    const a = await startTestServer({ ...options, nodeId: 'a' })
    const b = await startTestServer({ ...options, nodeId: 'b' })
    servers.push(a, b)
    const alice = await muxClient(a, 'alice')
    clients.push(alice)
    alice.subscribeInbox()
    await until(() => alice.inboxMessages.length > 0, 5000, 'the (empty) full list')
    const created = await post(b, '/api/conversations', 'bob', { title: 'Made on b', members: ['alice'] })
    await until(() => alice.inbox.has(created.id), 5000, 'the conversation made on another node')
    await post(b, `/api/conversations/${created.id}/messages`, 'bob', { text: 'hi' })
    await until(() => alice.inbox.get(created.id)?.unread === 1, 5000, 'its unread count')
  })
})

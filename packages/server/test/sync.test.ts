import { afterEach, describe, expect, it } from 'vitest'
import { type StockClient, startTestServer, stockClient, type TestServer, until } from './helpers/server.js'

describe('stock y-websocket clients through the server', () => {
  let server: TestServer
  const clients: StockClient[] = []
  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy()
    await server?.close()
  })

  it('converge, see each other’s awareness, and every message reaches sent', async () => {
    server = await startTestServer()
    const id = await server.conversation('alice', { bob: 'member' })
    const alice = await stockClient(server, id, 'alice')
    const bob = await stockClient(server, id, 'bob')
    clients.push(alice, bob)
    await until(() => alice.provider.synced && bob.provider.synced, 5000, 'both synced')
    expect(bob.conversation.members()).toHaveProperty('alice')

    alice.provider.awareness.setLocalStateField('user', { name: 'Alice' })
    await until(
      () => [...bob.provider.awareness.getStates().values()].some((state) => state.user?.name === 'Alice'),
      5000,
      'awareness',
    )

    const a = alice.conversation.send('hello bob')
    const b = bob.conversation.send('hello alice')
    await until(() => alice.conversation.messages().length === 2 && bob.conversation.messages().length === 2)
    await until(() => [a.id, b.id].every((m) => alice.conversation.status(m) !== 'pending'), 5000, 'sent')
    await until(() => [a.id, b.id].every((m) => bob.conversation.status(m) !== 'pending'), 5000, 'sent')
    expect(alice.conversation.messages().map((m) => [m.id, m.seq])).toEqual(
      bob.conversation.messages().map((m) => [m.id, m.seq]),
    )
    expect(new Set(alice.conversation.messages().map((m) => m.seq))).toEqual(new Set([1, 2]))

    bob.conversation.markRead()
    await until(() => alice.conversation.status(a.id) === 'read', 5000, 'read receipt')
  })

  it('syncs offline writes after a reconnect and stamps each of them', async () => {
    server = await startTestServer()
    const id = await server.conversation('alice', { bob: 'member' })
    const alice = await stockClient(server, id, 'alice')
    const bob = await stockClient(server, id, 'bob')
    clients.push(alice, bob)
    await until(() => alice.provider.synced && bob.provider.synced)

    alice.provider.disconnect()
    const offline = [
      alice.conversation.send('one'),
      alice.conversation.send('two'),
      alice.conversation.send('three'),
    ]
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(bob.conversation.messages()).toHaveLength(0)
    expect(offline.every((m) => alice.conversation.status(m.id) === 'pending')).toBe(true)

    alice.provider.connect()
    await until(() => bob.conversation.messages().length === 3, 5000, 'offline messages at bob')
    await until(() => offline.every((m) => alice.conversation.status(m.id) === 'sent'), 5000, 'all sent')
    // Sent in the same millisecond, they are ordered by the model's tie-break, not by text.
    expect(
      alice.conversation
        .messages()
        .map((m) => m.text)
        .sort(),
    ).toEqual(['one', 'three', 'two'])
    expect(alice.conversation.messages().map((m) => m.seq)).toEqual([1, 2, 3])
  })
})

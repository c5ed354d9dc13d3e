import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNetwork, startServer, testClient, until } from './helpers.js'

let server: Awaited<ReturnType<typeof startServer>>
beforeAll(async () => {
  server = await startServer()
})
afterAll(() => server.close())

describe('a client with many conversations', () => {
  it('shares one instance per conversation and releases every socket on close()', async () => {
    const aliceToken = await server.token('alice')
    const ids = await Promise.all(Array.from({ length: 6 }, () => server.conversation(aliceToken, ['bob'])))
    const network = createNetwork()
    const client = testClient({
      // Counts sockets: one per conversation on this transport.
      transport: 'per-conversation',
      url: server.url,
      token: aliceToken,
      userId: 'alice',
      WebSocket: network.WebSocket,
    })
    const conversations = ids.map((id) => client.open(id))
    expect(client.open(ids[0]!)).toBe(conversations[0]) // a second holder of the same conversation
    await Promise.all(conversations.map((c) => c.whenSynced()))
    expect(network.openSockets()).toBe(6)

    await conversations[0]!.close() // one holder of two lets go: still open
    expect(conversations[0]!.connection).toBe('synced')
    await client.close()
    expect(client.conversations()).toEqual([])
    await until(
      'sockets closed',
      () => network.openSockets(),
      (n) => n === 0,
    )
    expect(conversations.every((c) => c.connection === 'offline')).toBe(true)
  })
})

describe('presence', () => {
  it('shows who is online and typing, through the server', async () => {
    const aliceToken = await server.token('alice')
    const id = await server.conversation(aliceToken, ['bob'])
    const aliceClient = testClient({
      url: server.url,
      token: aliceToken,
      userId: 'alice',
      typingTimeoutMs: 300,
    })
    const bobClient = testClient({ url: server.url, token: await server.token('bob'), userId: 'bob' })
    const alice = aliceClient.open(id)
    const bob = bobClient.open(id)
    await Promise.all([alice.whenSynced(), bob.whenSynced()])
    await until('alice sees bob online', () => alice.presence().bob?.online, Boolean)

    alice.setTyping(true)
    await until(
      'bob sees alice typing',
      () => bob.presence().alice?.typing,
      (typing) => typing === true,
    )
    // Nobody stays "typing" forever: it lapses unless renewed.
    await until(
      'typing lapses',
      () => bob.presence().alice?.typing,
      (typing) => typing === false,
    )

    await aliceClient.close()
    await until(
      'alice gone',
      () => bob.presence().alice,
      (state) => state === undefined,
    )
    await bobClient.close()
  })
})

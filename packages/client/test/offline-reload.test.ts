import 'fake-indexeddb/auto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNetwork, recordStatuses, startServer, statuses, testClient, until } from './helpers.js'

let server: Awaited<ReturnType<typeof startServer>>
beforeAll(async () => {
  server = await startServer()
})
afterAll(() => server.close())

describe('offline sends survive a reload and tick up once back online', () => {
  it('pending → (reload) → pending → sent → delivered → read, never going down', async () => {
    const aliceToken = await server.token('alice')
    const bobToken = await server.token('bob')
    const id = await server.conversation(aliceToken, ['bob'])
    const network = createNetwork()
    const aliceOptions = {
      url: server.url,
      token: aliceToken,
      userId: 'alice',
      persistence: 'indexeddb' as const,
      WebSocket: network.WebSocket,
    }

    // Alice has the conversation on her device (members known), then loses the network.
    const before = testClient(aliceOptions)
    const first = before.open(id)
    expect(await first.whenSynced()).toBe(true)
    network.cut()
    await until(
      'alice offline',
      () => first.connection,
      (state) => state === 'offline',
    )
    const ids = ['one', 'two', 'three'].map((text) => first.send(text).id)
    expect(statuses(first, ids)).toEqual(['pending', 'pending', 'pending'])
    expect(first.outboxOnDisk()).toBe(false)
    expect(await first.whenPersisted()).toBe(true)
    await until('outbox on disk', () => first.outboxOnDisk(), Boolean)
    await before.close()

    // The reload: a new client instance on the same IndexedDB, still without network.
    const after = testClient(aliceOptions)
    const alice = after.open(id)
    expect(await alice.whenSynced()).toBe(false)
    expect(alice.loadedFromDisk()).toBe(true)
    expect(alice.messages().map((m) => m.text)).toEqual(['one', 'two', 'three'])
    expect(statuses(alice, ids)).toEqual(['pending', 'pending', 'pending'])
    const history = recordStatuses(alice)

    network.restore()
    after.reconnectAll() // what the browser's `online` event does
    await until(
      'sent',
      () => statuses(alice, ids),
      (s) => s.every((x) => x === 'sent'),
    )

    const bobClient = testClient({ url: server.url, token: bobToken, userId: 'bob' })
    const bob = bobClient.open(id)
    await until(
      'delivered',
      () => statuses(alice, ids),
      (s) => s.every((x) => x === 'delivered'),
    )
    expect(bob.messages().map((m) => m.text)).toEqual(['one', 'two', 'three'])

    bob.markRead()
    await until(
      'read',
      () => statuses(alice, ids),
      (s) => s.every((x) => x === 'read'),
    )
    expect(alice.receipts(ids[0]!)).toEqual({ bob: 'read' })

    history.stop()
    expect(history.decreases()).toEqual([])
    for (const messageId of ids) {
      // Every level shows up (the delivered receipt is a separate, earlier update than the read).
      expect(history.seen.get(messageId)).toEqual(['pending', 'sent', 'delivered', 'read'])
    }
    await Promise.all([after.close(), bobClient.close()])
  })
})

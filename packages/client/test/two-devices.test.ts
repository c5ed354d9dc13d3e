import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNetwork, startServer, statuses, testClient, until } from './helpers.js'

let server: Awaited<ReturnType<typeof startServer>>
beforeAll(async () => {
  server = await startServer()
})
afterAll(() => server.close())

describe('two devices of one user', () => {
  it('read concurrently, one of them offline: every replica converges to the max', async () => {
    const aliceToken = await server.token('alice')
    const bobToken = await server.token('bob')
    const id = await server.conversation(aliceToken, ['bob'])
    const aliceClient = testClient({ url: server.url, token: aliceToken, userId: 'alice' })
    const laptopNetwork = createNetwork()
    const phone = testClient({ url: server.url, token: bobToken, userId: 'bob', replicaId: 'bob-phone' })
    const laptop = testClient({
      url: server.url,
      token: bobToken,
      userId: 'bob',
      replicaId: 'bob-laptop',
      WebSocket: laptopNetwork.WebSocket,
    })
    const alice = aliceClient.open(id)
    const onPhone = phone.open(id)
    const onLaptop = laptop.open(id)
    await Promise.all([alice.whenSynced(), onPhone.whenSynced(), onLaptop.whenSynced()])

    const ids = ['1', '2', '3', '4'].map((text) => alice.send(text).id)
    await until(
      'delivered',
      () => statuses(alice, ids),
      (s) => s.every((x) => x === 'delivered'),
    )
    // Sent within a millisecond or two, yet stamped in the order they were typed.
    expect(alice.messages().map((m) => [m.text, m.seq])).toEqual([
      ['1', 1],
      ['2', 2],
      ['3', 3],
      ['4', 4],
    ])
    await until(
      'laptop has all',
      () => onLaptop.messages().filter((m) => m.seq).length,
      (n) => n === 4,
    )

    laptopNetwork.cut()
    await until(
      'laptop offline',
      () => onLaptop.connection,
      (state) => state === 'offline',
    )
    onPhone.markRead(ids[2]) // the phone, online, has shown 1–3
    onLaptop.markRead(ids[0]) // the laptop, offline, only 1
    await until(
      'phone read reaches alice',
      () => statuses(alice, ids),
      (s) => s[2] === 'read',
    )
    // Partitioned: the laptop has not heard of the phone's read of message 3.
    expect(onLaptop.receipts(ids[2]!)).toEqual({ bob: 'delivered' })

    laptopNetwork.restore()
    laptop.reconnectAll()
    const expected = ['read', 'read', 'read', 'delivered']
    for (const replica of [alice, onPhone, onLaptop]) {
      await until(
        `convergence on ${replica.replicaId}`,
        () => statuses(replica, ids),
        (s) => s.join() === expected.join(),
      )
    }
    // The merged watermark is the max of the two devices', everywhere.
    for (const replica of [alice, onPhone, onLaptop]) {
      expect(replica.conversationIndex.watermarkOf('bob')).toEqual({ d: 4, r: 3 })
    }
    await Promise.all([aliceClient.close(), phone.close(), laptop.close()])
  })
})

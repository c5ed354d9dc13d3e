import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, statuses, testClient, until } from './helpers.js'

let server: Awaited<ReturnType<typeof startServer>>
beforeAll(async () => {
  server = await startServer()
})
afterAll(() => server.close())

describe('server restart while clients stay open', () => {
  it('clients reconnect by themselves and nothing is lost', async () => {
    const aliceToken = await server.token('alice')
    const bobToken = await server.token('bob')
    const id = await server.conversation(aliceToken, ['bob'])
    const aliceClient = testClient({ url: server.url, token: aliceToken, userId: 'alice' })
    const bobClient = testClient({ url: server.url, token: bobToken, userId: 'bob' })
    const alice = aliceClient.open(id)
    const bob = bobClient.open(id)
    expect(await alice.whenSynced()).toBe(true)
    expect(await bob.whenSynced()).toBe(true)
    const before = ['a1', 'a2'].map((text) => alice.send(text).id)
    await until(
      'delivered before restart',
      () => statuses(alice, before),
      (s) => s.every((x) => x === 'delivered'),
    )

    const states: string[] = []
    alice.onConnection((state) => states.push(state))
    await server.stop() // flushes rooms, closes sockets with 1012
    await until(
      'both offline',
      () => [alice.connection, bob.connection],
      (s) => s.every((x) => x === 'offline'),
    )
    // Written while the server is down: queued in the documents, sent on reconnect.
    const during = [alice.send('a3').id]
    bob.send('b1')
    await server.restart() // same data dir, same port
    // No reconnect() here: the clients' own back-off brings them back.
    await until(
      'synced again',
      () => [alice.connection, bob.connection],
      (s) => s.every((x) => x === 'synced'),
    )
    expect(states).toContain('connecting')
    expect(alice.stopped).toBeUndefined()

    const all = [...before, ...during]
    await until(
      'delivered after restart',
      () => statuses(alice, all),
      (s) => s.every((x) => x === 'delivered'),
    )
    const texts = ['a1', 'a2', 'a3', 'b1']
    for (const replica of [alice, bob]) {
      await until(
        `all messages sequenced on ${replica.userId}`,
        () => replica.messages(),
        (ms) => ms.length === 4 && ms.every((m) => m.seq !== undefined),
      )
      expect(
        replica
          .messages()
          .map((m) => m.text)
          .sort(),
      ).toEqual(texts)
    }
    expect(alice.messages().map((m) => m.seq)).toEqual([1, 2, 3, 4])
    expect(alice.messages().map((m) => m.id)).toEqual(bob.messages().map((m) => m.id))

    // And the restarted server has them on disk: a fresh client loads all four.
    const freshClient = testClient({ url: server.url, token: aliceToken, userId: 'alice' })
    await Promise.all([aliceClient.close(), bobClient.close()])
    const fresh = freshClient.open(id)
    expect(await fresh.whenSynced()).toBe(true)
    expect(
      fresh
        .messages()
        .map((m) => m.text)
        .sort(),
    ).toEqual(texts)
    await freshClient.close()
  })
})

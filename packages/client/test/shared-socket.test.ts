import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNetwork, recordStatuses, startServer, statuses, testClient, until } from './helpers.js'

/** Issue 14: every conversation of a client, and its inbox, over one socket (`transport: 'shared'`). */
let server: Awaited<ReturnType<typeof startServer>>
beforeAll(async () => {
  server = await startServer()
})
afterAll(() => server.close())

describe('the shared socket', () => {
  it('carries several conversations on one socket, meeting per-conversation clients in each', async () => {
    const [aliceToken, bobToken, carolToken] = await Promise.all(['alice', 'bob', 'carol'].map(server.token))
    const withBob = await server.conversation(aliceToken!, ['bob'])
    const withCarol = await server.conversation(aliceToken!, ['carol'])
    const network = createNetwork()
    const aliceClient = testClient({
      url: server.url,
      token: aliceToken!,
      userId: 'alice',
      transport: 'shared',
      WebSocket: network.WebSocket,
    })
    const bobClient = testClient({ url: server.url, token: bobToken!, userId: 'bob' })
    const carolClient = testClient({
      url: server.url,
      token: carolToken!,
      userId: 'carol',
      transport: 'shared',
    })
    const a1 = aliceClient.open(withBob)
    const a2 = aliceClient.open(withCarol)
    const bob = bobClient.open(withBob)
    const carol = carolClient.open(withCarol)
    expect(await Promise.all([a1, a2, bob, carol].map((c) => c.whenSynced()))).toEqual([
      true,
      true,
      true,
      true,
    ])
    expect(network.attempts()).toBe(1)

    const statusesSeen = recordStatuses(a1)
    const toBob = a1.send('hi bob')
    const toCarol = a2.send('hi carol')
    await until(
      'bob reads',
      () => bob.messages().length,
      (n) => n === 1,
    )
    bob.markRead()
    await until(
      'read by bob',
      () => a1.status(toBob.id),
      (s) => s === 'read',
    )
    await until(
      'delivered to carol',
      () => a2.status(toCarol.id),
      (s) => s === 'delivered',
    )
    expect(statusesSeen.decreases()).toEqual([])
    expect(a2.messages().map((m) => m.text)).toEqual(['hi carol'])
    await Promise.all([aliceClient.close(), bobClient.close(), carolClient.close()])
    await until(
      'the socket closed',
      () => network.openSockets(),
      (n) => n === 0,
    )
  })

  it('stops only the refused conversation; the others go on', async () => {
    const [aliceToken, daveToken] = await Promise.all(['alice', 'dave'].map(server.token))
    const mine = await server.conversation(daveToken!, [])
    const notMine = await server.conversation(aliceToken!, [])
    const client = testClient({ url: server.url, token: daveToken!, userId: 'dave', transport: 'shared' })
    const kept = client.open(mine)
    const refused = client.open(notMine)
    expect(await kept.whenSynced()).toBe(true)
    await until(
      'refused',
      () => refused.stopped?.code,
      (code) => code === 4403,
    )
    expect(refused.connection).toBe('offline')
    const note = kept.send('still fine')
    await until(
      'sent',
      () => kept.status(note.id),
      (s) => s === 'sent',
    )
    expect(kept.stopped).toBeUndefined()
    await client.close()
  })

  it('comes back by itself after a server restart, and pause/resume works as offline/online', async () => {
    const [aliceToken, bobToken] = await Promise.all(['alice', 'bob'].map(server.token))
    const id = await server.conversation(aliceToken!, ['bob'])
    const aliceClient = testClient({
      url: server.url,
      token: aliceToken!,
      userId: 'alice',
      transport: 'shared',
    })
    const bobClient = testClient({ url: server.url, token: bobToken!, userId: 'bob', transport: 'shared' })
    const alice = aliceClient.open(id)
    const bob = bobClient.open(id)
    expect(await alice.whenSynced()).toBe(true)
    expect(await bob.whenSynced()).toBe(true)
    const before = alice.send('before').id
    await until(
      'delivered',
      () => alice.status(before),
      (s) => s === 'delivered',
    )

    await server.restart()
    const during = alice.send('after the restart').id
    await until(
      'synced again',
      () => [alice.connection, bob.connection],
      (s) => s.every((x) => x === 'synced'),
    )
    await until(
      'delivered again',
      () => statuses(alice, [before, during]),
      (s) => s.every((x) => x === 'delivered'),
    )

    aliceClient.pause()
    expect(aliceClient.paused).toBe(true)
    await until(
      'offline',
      () => alice.connection,
      (s) => s === 'offline',
    )
    const offline = alice.send('written while paused').id
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(alice.status(offline)).toBe('pending')
    expect(bob.messages().some((m) => m.id === offline)).toBe(false)
    aliceClient.resume()
    await until(
      'sent after resume',
      () => alice.status(offline),
      (s) => s === 'delivered',
    )
    expect(alice.messages().map((m) => m.seq)).toEqual([1, 2, 3])
    await Promise.all([aliceClient.close(), bobClient.close()])
  })

  it('keeps a live inbox: new conversations appear, unread counts follow reads on another device', async () => {
    const [aliceToken, bobToken] = await Promise.all(['alice', 'bob'].map(server.token))
    const aliceLaptop = testClient({
      url: server.url,
      token: aliceToken!,
      userId: 'alice',
      transport: 'shared',
    })
    const inbox = aliceLaptop.inbox({ deliver: false })
    await inbox.whenLoaded()
    const changes: number[] = []
    inbox.onChange(() => changes.push(inbox.entries().length))
    const id = await server.conversation(bobToken!, ['alice'])
    await until(
      'listed',
      () => inbox.get(id)?.title,
      (title) => title === 'test',
    )
    const bobClient = testClient({ url: server.url, token: bobToken!, userId: 'bob', transport: 'shared' })
    const bob = bobClient.open(id)
    await bob.whenSynced()
    bob.send('one')
    bob.send('two')
    await until(
      'two unread',
      () => inbox.get(id)?.unread,
      (n) => n === 2,
    )
    // Read on alice's phone: the laptop's count falls, without opening the conversation there.
    const phone = testClient({ url: server.url, token: aliceToken!, userId: 'alice', transport: 'shared' })
    const onPhone = phone.open(id)
    await until(
      'phone has both',
      () => onPhone.messages().filter((m) => m.seq).length,
      (n) => n === 2,
    )
    onPhone.markRead()
    await until(
      'read elsewhere',
      () => inbox.get(id)?.unread,
      (n) => n === 0,
    )
    expect(aliceLaptop.conversations()).toEqual([])
    expect(changes.length).toBeGreaterThan(0)
    await Promise.all([aliceLaptop.close(), bobClient.close(), phone.close()])
  })

  it('delivers in the background what the app has not opened, then lets it go', async () => {
    const [aliceToken, bobToken] = await Promise.all(['alice', 'bob'].map(server.token))
    const id = await server.conversation(bobToken!, ['alice'])
    const aliceClient = testClient({
      url: server.url,
      token: aliceToken!,
      userId: 'alice',
      transport: 'shared',
    })
    await aliceClient.inbox().whenLoaded()
    const bobClient = testClient({ url: server.url, token: bobToken!, userId: 'bob', transport: 'shared' })
    const bob = bobClient.open(id)
    await bob.whenSynced()
    const hello = bob.send('are you there?')
    // Alice's app never opens the conversation: her client syncs it in the background.
    await until(
      'delivered to alice',
      () => bob.status(hello.id),
      (s) => s === 'delivered',
      5000,
    )
    await until(
      'let go',
      () => aliceClient.conversations().length,
      (n) => n === 0,
      5000,
    )
    expect(aliceClient.inbox().get(id)).toMatchObject({ deliveredSeq: 1, readSeq: 0, unread: 1 })
    // Not read: only the app showing it may say that.
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(bob.status(hello.id)).toBe('delivered')
    await Promise.all([aliceClient.close(), bobClient.close()])
  })

  it('refuses locally an outbox too large for the shared socket, which the other conversations keep', async () => {
    const aliceToken = await server.token('alice')
    const [big, small] = [
      await server.conversation(aliceToken, []),
      await server.conversation(aliceToken, []),
    ]
    const client = testClient({
      url: server.url,
      token: aliceToken,
      userId: 'alice',
      transport: 'shared',
      connection: { maxSharedFrameBytes: 32 * 1024 },
    })
    const tooBig = client.open(big)
    const other = client.open(small)
    expect(await tooBig.whenSynced()).toBe(true)
    tooBig.disconnect()
    const outbox = Array.from({ length: 4 }, (_, i) => tooBig.send(`${i}`.repeat(15 * 1024)))
    tooBig.reconnect()
    await until(
      'failed',
      () => outbox.map((m) => tooBig.status(m.id)),
      (s) => s.every((x) => x === 'failed'),
    )
    expect(tooBig.stopped).toMatchObject({ code: 4413, reason: expect.stringMatching(/exceeds 32768 bytes/) })
    const note = other.send('fine')
    await until(
      'sent',
      () => other.status(note.id),
      (s) => s === 'sent',
    )
    // Discarded, the rest of the conversation syncs again.
    for (const message of outbox) tooBig.discard(message.id)
    const after = tooBig.send('small again')
    await until(
      'sent after discard',
      () => tooBig.status(after.id),
      (s) => s === 'sent',
    )
    await client.close()
  })
})

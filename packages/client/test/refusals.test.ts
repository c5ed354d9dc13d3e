import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNetwork, startServer, testClient, until } from './helpers.js'

const MAX_FRAME = 8 * 1024
let server: Awaited<ReturnType<typeof startServer>>
beforeAll(async () => {
  // Sync step 2 (a reconnect's whole outbox) has its own, larger limit by default; here both are
  // small, so that a write the server refuses stays refused on every reconnect.
  server = await startServer({ limits: { maxFrameBytes: MAX_FRAME, maxSyncFrameBytes: MAX_FRAME } })
})
afterAll(() => server.close())

/** Long enough for several back-off rounds (base 40 ms) had the client kept retrying. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 600))

describe('refusals stop the retry loop and say why', () => {
  it('4401: a bad token', async () => {
    const network = createNetwork()
    const client = testClient({
      url: server.url,
      token: 'not-a-token',
      userId: 'alice',
      WebSocket: network.WebSocket,
    })
    const conversation = client.open('whatever')
    expect(await conversation.whenSynced()).toBe(false)
    await until(
      'stopped',
      () => conversation.stopped?.code,
      (code) => code === 4401,
    )
    expect(conversation.stopped?.reason).toBeTruthy()
    await settle()
    expect(network.attempts()).toBe(1)
    expect(conversation.connection).toBe('offline')
    await client.close()
  })

  it('4403: not a member; stops retrying and says why', async () => {
    const aliceToken = await server.token('alice')
    const id = await server.conversation(aliceToken, ['bob'])
    const network = createNetwork()
    const client = testClient({
      url: server.url,
      token: await server.token('mallory'),
      userId: 'mallory',
      WebSocket: network.WebSocket,
      connect: false,
    })
    const conversation = client.open(id)
    // Before the members are known a message would name no recipients: core refuses it.
    expect(() => conversation.send('let me in')).toThrow(expect.objectContaining({ code: 'not-synced' }))
    conversation.reconnect()
    await until(
      'stopped',
      () => conversation.stopped?.code,
      (code) => code === 4403,
    )
    expect(conversation.stopped?.reason).toMatch(/not a member/)
    await settle()
    expect(network.attempts()).toBe(1)
    expect(conversation.messages()).toEqual([])
    await client.close()
  })

  it('4404: no such conversation', async () => {
    const network = createNetwork()
    const client = testClient({
      url: server.url,
      token: await server.token('alice'),
      userId: 'alice',
      WebSocket: network.WebSocket,
    })
    const conversation = client.open('no-such-conversation')
    await until(
      'stopped',
      () => conversation.stopped?.code,
      (code) => code === 4404,
    )
    await settle()
    expect(network.attempts()).toBe(1)
    await client.close()
  })

  it('4413: a refused write is failed; retry fails again, discard lets the rest through', async () => {
    const aliceToken = await server.token('alice')
    const id = await server.conversation(aliceToken, ['bob'])
    const client = testClient({ url: server.url, token: aliceToken, userId: 'alice' })
    const alice = client.open(id)
    expect(await alice.whenSynced()).toBe(true)
    const huge = alice.send('x'.repeat(MAX_FRAME + 1024)) // within core's 16 KiB, beyond this server's frame limit
    await until(
      'refused',
      () => alice.status(huge.id),
      (status) => status === 'failed',
    )
    expect(alice.stopped?.code).toBe(4413)
    expect(alice.failureReason(huge.id)).toMatch(/exceeds/)

    alice.retry(huge.id) // the user insists: pending again, then refused again
    expect(alice.status(huge.id)).toBe('pending')
    await until(
      'refused again',
      () => alice.status(huge.id),
      (status) => status === 'failed',
    )

    alice.discard(huge.id) // resumes syncing by itself
    const next = alice.send('shorter')
    await until(
      'sent',
      () => alice.status(next.id),
      (status) => status === 'sent',
    )
    expect(alice.stopped).toBeUndefined()
    expect(alice.messages().map((m) => m.text)).toEqual(['shorter'])
    await client.close()
  })

  it('1009: a frame beyond what the server reads at all is refused like 4413', async () => {
    const aliceToken = await server.token('alice')
    const id = await server.conversation(aliceToken, ['bob'])
    const client = testClient({
      url: server.url,
      token: aliceToken,
      userId: 'alice',
      // ws closes the socket with 1009: on the shared one, the client refuses first (shared-socket.test.ts).
      transport: 'per-conversation',
    })
    const alice = client.open(id)
    expect(await alice.whenSynced()).toBe(true)
    // An outbox past the room's limit and ws's slack (64 KiB): ws closes before the room sees it.
    alice.disconnect()
    const outbox = Array.from({ length: 6 }, (_, i) => alice.send(`${i}`.repeat(15 * 1024)))
    alice.reconnect()
    await until(
      'refused',
      () => outbox.map((m) => alice.status(m.id)),
      (statuses) => statuses.every((status) => status === 'failed'),
    )
    const huge = outbox[0]!
    expect(alice.stopped).toMatchObject({ code: 4413, reason: expect.stringMatching(/too large/) })
    await settle()
    expect(alice.status(huge.id)).toBe('failed')
    await client.close()
  })

  it('4403 after a demotion while offline: the unsent message fails, and once discarded the replica reads again', async () => {
    const aliceToken = await server.token('alice')
    const bobToken = await server.token('bob')
    const id = await server.conversation(aliceToken, ['bob'])
    const aliceClient = testClient({ url: server.url, token: aliceToken, userId: 'alice' })
    const bobClient = testClient({ url: server.url, token: bobToken, userId: 'bob' })
    const alice = aliceClient.open(id)
    const bob = bobClient.open(id)
    expect(await alice.whenSynced()).toBe(true)
    expect(await bob.whenSynced()).toBe(true)

    bob.disconnect()
    const unsent = bob.send('written offline, as a member')
    alice.setMember('bob', 'observer')
    await alice.whenPersisted()
    bob.reconnect()
    await until(
      'refused',
      () => bob.status(unsent.id),
      (status) => status === 'failed',
    )
    expect(bob.stopped?.code).toBe(4403)

    bob.discard(unsent.id) // nothing left to write: it syncs again, read-only
    const later = alice.send('for the observer to read')
    await until(
      'read again',
      () => bob.messages().some((m) => m.id === later.id),
      (seen) => seen,
    )
    expect(bob.stopped).toBeUndefined()
    expect(bob.role()).toBe('observer')
    await aliceClient.close()
    await bobClient.close()
  })

  it('an offline backlog larger than the live-update limit goes up whole on reconnect', async () => {
    const roomy = await startServer({ limits: { maxFrameBytes: MAX_FRAME } })
    try {
      const aliceToken = await roomy.token('alice')
      const id = await roomy.conversation(aliceToken, ['bob'])
      const client = testClient({ url: roomy.url, token: aliceToken, userId: 'alice' })
      const alice = client.open(id)
      expect(await alice.whenSynced()).toBe(true)
      alice.disconnect()
      const backlog = Array.from({ length: 100 }, (_, i) => alice.send(`offline message ${i} `.repeat(8)))
      alice.reconnect() // one sync step 2 of about 20 KiB, beyond the 8 KiB live limit
      await until(
        'all sent',
        () => backlog.every((m) => alice.status(m.id) === 'sent'),
        (sent) => sent,
      )
      expect(alice.stopped).toBeUndefined()
      await client.close()
    } finally {
      await roomy.close()
    }
  })
})

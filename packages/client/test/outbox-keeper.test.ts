import 'fake-indexeddb/auto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, testClient, until } from './helpers.js'

/** Issue 14: an app that opens only the chat on screen still gets every unsent message out. */
let server: Awaited<ReturnType<typeof startServer>>
beforeAll(async () => {
  server = await startServer()
})
afterAll(() => server.close())

describe('messages left unsent in a conversation the app let go', () => {
  it('go up in the background when the client is back online, and nothing stays open', async () => {
    const [aliceToken, bobToken] = await Promise.all(['alice', 'bob'].map(server.token))
    const [first, second] = [
      await server.conversation(aliceToken!, ['bob']),
      await server.conversation(aliceToken!, ['bob']),
    ]
    const alice = testClient({
      url: server.url,
      token: aliceToken!,
      userId: 'alice',
      transport: 'shared',
      persistence: 'indexeddb',
    })
    const bob = testClient({ url: server.url, token: bobToken!, userId: 'bob', transport: 'shared' })
    const onScreen = alice.open(first)
    const other = alice.open(second)
    expect(await onScreen.whenSynced()).toBe(true)
    expect(await other.whenSynced()).toBe(true)

    alice.pause() // the browser went offline
    const left = onScreen.send('written offline, then the user moved on')
    await onScreen.close() // the app shows another chat now
    const shown = other.send('written offline in the chat on screen')
    expect(alice.conversations()).toEqual([other])

    alice.resume()
    const atBob = [bob.open(first), bob.open(second)]
    await until(
      'both at bob, stamped',
      () => [
        atBob[0]!.messages().find((m) => m.id === left.id)?.seq,
        atBob[1]!.messages().find((m) => m.id === shown.id)?.seq,
      ],
      (seqs) => seqs.every((seq) => seq === 1),
    )
    // The conversation let go was opened only to send, then let go again.
    await until(
      'let go',
      () => alice.conversations().map((c) => c.id),
      (ids) => ids.length === 1 && ids[0] === second,
    )
    await Promise.all([alice.close(), bob.close()])
  })

  it('go up after a reload too: the note survives in localStorage', async () => {
    const items = new Map<string, string>()
    const storage = {
      getItem: (key: string) => items.get(key) ?? null,
      setItem: (key: string, value: string) => void items.set(key, value),
      removeItem: (key: string) => void items.delete(key),
    }
    ;(globalThis as { localStorage?: unknown }).localStorage = storage
    try {
      const [carolToken, daveToken] = await Promise.all(['carol', 'dave'].map(server.token))
      const id = await server.conversation(carolToken!, ['dave'])
      const options = {
        url: server.url,
        token: carolToken!,
        userId: 'carol',
        transport: 'shared' as const,
        persistence: 'indexeddb' as const,
      }
      const before = testClient(options)
      const chat = before.open(id)
      expect(await chat.whenSynced()).toBe(true)
      before.pause()
      const message = chat.send('written, then the tab was closed')
      // Noted at once: a tab closed with the chat still open (no release) keeps the note.
      expect(items.get('ticks:unsent:carol')).toBe(JSON.stringify([id]))
      await chat.whenPersisted()
      await before.close()
      expect(items.get('ticks:unsent:carol')).toBe(JSON.stringify([id]))

      // The reloaded app opens no chat at all: the message goes up by itself.
      const after = testClient(options)
      const dave = testClient({ url: server.url, token: daveToken!, userId: 'dave', transport: 'shared' })
      const atDave = dave.open(id)
      await until(
        'at dave',
        () => atDave.messages().find((m) => m.id === message.id)?.seq,
        (seq) => seq === 1,
      )
      await until(
        'let go',
        () => after.conversations().length,
        (n) => n === 0,
      )
      await until(
        'nothing noted',
        () => items.get('ticks:unsent:carol'),
        (value) => value === undefined,
      )
      await Promise.all([after.close(), dave.close()])
    } finally {
      delete (globalThis as { localStorage?: unknown }).localStorage
    }
  })
})

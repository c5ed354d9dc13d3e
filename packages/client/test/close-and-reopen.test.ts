import 'fake-indexeddb/auto'
import { randomId } from '@ticks/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, testClient, until } from './helpers.js'

let server: Awaited<ReturnType<typeof startServer>>
beforeAll(async () => {
  server = await startServer()
})
afterAll(() => server.close())

/** The promise's value, or 'pending' if it has not settled within `ms`. */
const within = <T>(promise: Promise<T>, ms = 2000) =>
  Promise.race([promise, new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), ms))])

const stamped = (texts: string[]) => (messages: { text: string; seq?: number }[]) =>
  messages.length === texts.length && messages.every((m, i) => m.text === texts[i] && m.seq !== undefined)

describe('reopening a conversation while it is closing (a component remounted in the same tick)', () => {
  it('gives a fresh instance that loads what the old one stored, and syncs', async () => {
    const aliceToken = await server.token('alice')
    const id = await server.conversation(aliceToken, ['bob'])
    const client = testClient({
      url: server.url,
      token: aliceToken,
      userId: 'alice',
      persistence: 'indexeddb',
    })
    const first = client.open(id)
    expect(await first.whenSynced()).toBe(true)
    const before = first.send('before')
    await until(
      'stamped',
      () => first.status(before.id),
      (status) => status === 'sent',
    )
    first.disconnect()
    first.send('written offline') // only in this instance and on this device's disk

    const closing = first.close()
    const second = client.open(id)
    expect(second).not.toBe(first)
    expect(client.conversations()).toEqual([second])
    expect(await second.whenSynced()).toBe(true)
    expect(second.loadedFromDisk()).toBe(true)
    second.send('after the remount')
    const texts = ['before', 'written offline', 'after the remount']
    await until('all stamped', () => second.messages(), stamped(texts))
    await closing

    // The server has them all: another device of another member sees them.
    const bobClient = testClient({ url: server.url, token: await server.token('bob'), userId: 'bob' })
    const bob = bobClient.open(id)
    await until('bob has them', () => bob.messages(), stamped(texts))
    await Promise.all([client.close(), bobClient.close()])
  })

  it('remounts in a row, before any load finished, end with one working instance', async () => {
    const aliceToken = await server.token('alice')
    const id = await server.conversation(aliceToken, ['bob'])
    const client = testClient({
      url: server.url,
      token: aliceToken,
      userId: 'alice',
      persistence: 'indexeddb',
    })
    const first = client.open(id)
    const closingFirst = first.close()
    const second = client.open(id)
    const closingSecond = second.close()
    const third = client.open(id)
    expect(new Set([first, second, third]).size).toBe(3)
    expect(client.conversations()).toEqual([third])
    expect(await within(first.whenSynced())).toBe(false)
    expect(await within(second.whenSynced())).toBe(false)
    expect(await third.whenSynced()).toBe(true)
    third.send('hello')
    await until('stamped', () => third.messages(), stamped(['hello']))
    await Promise.all([closingFirst, closingSecond])

    // And a reload finds it on disk, even without a network.
    await client.close()
    const reloaded = testClient({
      url: server.url,
      token: aliceToken,
      userId: 'alice',
      persistence: 'indexeddb',
      connect: false,
    })
    const again = reloaded.open(id)
    expect(await again.whenSynced()).toBe(false)
    expect(again.messages().map((m) => m.text)).toEqual(['hello'])
    await reloaded.close()
  })
})

describe('closing during the IndexedDB load', () => {
  it('settles whenSynced (false) and whenPersisted', async () => {
    const client = testClient({
      url: server.url,
      token: 'unused',
      userId: 'alice',
      persistence: 'indexeddb',
      connect: false,
    })
    const conversation = client.open(`never-loaded-${randomId()}`)
    const synced = conversation.whenSynced()
    const persisted = conversation.whenPersisted()
    await conversation.close()
    expect(await within(synced)).toBe(false)
    // Nothing was written that did not reach the disk (the close lets the load finish).
    expect(await within(persisted)).toBe(true)
    expect(await within(conversation.whenSynced())).toBe(false)
    expect(await within(conversation.whenPersisted())).toBe(true)
    await client.close()
  })

  it('refuses a send on a handle after its own close(), rather than losing it', async () => {
    const aliceToken = await server.token('alice')
    const id = await server.conversation(aliceToken, ['bob'])
    const client = testClient({ url: server.url, token: aliceToken, userId: 'alice' })
    const conversation = client.open(id)
    await conversation.whenSynced()
    const closed = conversation.close()
    expect(() => conversation.send('after close')).toThrow(expect.objectContaining({ code: 'closed' }))
    await closed
    await client.close()
  })
})

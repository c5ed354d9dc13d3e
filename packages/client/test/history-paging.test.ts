import 'fake-indexeddb/auto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HistoryRequestError, type LiveConversation } from '../src/index.js'
import { createNetwork, recordStatuses, startServer, testClient, until } from './helpers.js'

/**
 * Bounded conversations (issue 15, DESIGN section 12) from the client's side, against the real
 * server with a window of 10 sequenced messages: `loadOlder` pages the sealed history into view,
 * caches it on the device, and serves it from there offline.
 */
let server: Awaited<ReturnType<typeof startServer>>
beforeAll(async () => {
  server = await startServer({ historyWindow: 10 })
})
afterAll(() => server.close())

const seqs = (conversation: LiveConversation) => conversation.messages().map((m) => m.seq)
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/** Page back until the beginning, checking each step adds what it says it added. */
async function pageToTheBeginning(conversation: LiveConversation, limit: number) {
  const steps: number[] = []
  while (conversation.hasOlder()) {
    const shown = conversation.messages().length
    const added = await conversation.loadOlder(limit)
    expect(conversation.messages().length).toBe(shown + added)
    if (added === 0) break
    steps.push(added)
  }
  return steps
}

/** Every message id ever shown stays shown: nothing disappears from the view. */
function watchDisappearances(conversation: LiveConversation) {
  const shown = new Set<string>()
  const lost: string[] = []
  const check = () => {
    const now = new Set(conversation.messages().map((m) => m.id))
    for (const id of shown) if (!now.has(id)) lost.push(id)
    for (const id of now) shown.add(id)
  }
  check()
  return { lost, stop: conversation.onChange(check) }
}

async function conversationWith(count: number) {
  const alice = await server.token('alice')
  const bob = await server.token('bob')
  const id = await server.conversation(alice, ['bob'])
  const sent: { id: string; seq: number }[] = []
  for (let i = 0; i < count; i++) sent.push(await server.message(i % 3 ? alice : bob, id, `message ${i}`))
  return { id, alice, bob, sent }
}

describe('paged history', () => {
  it('pages every sealed message once, in order, across page boundaries', async () => {
    const { id, bob, sent } = await conversationWith(57)
    const client = testClient({ url: server.url, token: bob, userId: 'bob' })
    const chat = client.open(id)
    expect(await chat.whenSynced()).toBe(true)
    expect(chat.sealedThrough()).toBeGreaterThan(40)
    expect(chat.messages().length).toBeLessThan(12) // the window only
    expect(chat.hasOlder()).toBe(true)

    const steps = await pageToTheBeginning(chat, 7)
    expect(steps.slice(0, -1).every((added) => added === 7)).toBe(true)
    expect(chat.hasOlder()).toBe(false)
    expect(seqs(chat)).toEqual(range(1, 57))
    expect(chat.messages().map((m) => m.id)).toEqual(sent.map((m) => m.id))
    expect(chat.messages()[0]).toMatchObject({ author: 'bob', text: 'message 0', seq: 1 })
    expect(await chat.loadOlder()).toBe(0)
    await client.close()
  })

  it('pages every message once while new ones keep sealing, and nothing shown disappears', async () => {
    const { id, alice, bob } = await conversationWith(30)
    const client = testClient({ url: server.url, token: bob, userId: 'bob' })
    const chat = client.open(id)
    await chat.whenSynced()
    const watch = watchDisappearances(chat)
    const writer = (async () => {
      for (let i = 0; i < 40; i++) await server.message(alice, id, `during ${i}`)
    })()
    const steps: number[] = []
    while (chat.hasOlder() || steps.length < 3) {
      const added = await chat.loadOlder(4)
      if (added > 0) steps.push(added)
      else if (!chat.hasOlder()) await new Promise((resolve) => setTimeout(resolve, 20))
    }
    await writer
    await until(
      'every message live or sealed',
      () => chat.conversationIndex.lastSeq(),
      (last) => last === 70,
    )
    // What was sealed while paging was held here (or pages in now): still the whole conversation.
    await pageToTheBeginning(chat, 50)
    expect(seqs(chat)).toEqual(range(1, 70))
    expect(new Set(chat.messages().map((m) => m.id)).size).toBe(70)
    watch.stop()
    expect(watch.lost).toEqual([])
    await client.close()
  })

  it('raises the statuses of paged messages with later receipts', async () => {
    const { id, alice, bob, sent } = await conversationWith(25)
    const aliceClient = testClient({ url: server.url, token: alice, userId: 'alice' })
    const chat = aliceClient.open(id)
    await chat.whenSynced()
    await pageToTheBeginning(chat, 200)
    const own = sent.filter((_, i) => i % 3 !== 0).map((m) => m.id)
    expect(own.map((messageId) => chat.status(messageId)).every((status) => status === 'sent')).toBe(true)
    const history = recordStatuses(chat)

    // Bob's device opens the window only, and reads it: his watermark covers the sealed seqs too.
    const bobClient = testClient({ url: server.url, token: bob, userId: 'bob' })
    const bobChat = bobClient.open(id)
    await bobChat.whenSynced()
    bobChat.markRead()
    await until(
      'every own message read',
      () => own.map((messageId) => chat.status(messageId)),
      (statuses) => statuses.every((status) => status === 'read'),
    )
    expect(chat.receipts(own[0]!)).toEqual({ bob: 'read' })
    history.stop()
    expect(history.decreases()).toEqual([])
    await Promise.all([aliceClient.close(), bobClient.close()])
  })

  it('after a reload, shows cached history and pages it without the network', async () => {
    const { id, bob, sent } = await conversationWith(40)
    const network = createNetwork()
    const options = {
      url: server.url,
      token: bob,
      userId: 'bob',
      persistence: 'indexeddb' as const,
      WebSocket: network.WebSocket,
      fetch: network.fetch,
    }
    const before = testClient(options)
    const first = before.open(id)
    await first.whenSynced()
    // A few pages back, not all: the rest of history is neither shown nor cached.
    for (let i = 0; i < 3; i++) await first.loadOlder(5)
    const cachedFrom = first.oldestSeq()!
    // More messages seal what this device held in its window: cached too.
    const alice = await server.token('alice')
    for (let i = 0; i < 15; i++) sent.push(await server.message(alice, id, `later ${i}`))
    await until(
      'the new messages',
      () => first.conversationIndex.lastSeq(),
      (last) => last === 55,
    )
    const shownBefore = first.messages().map((m) => m.id)
    await before.close()

    network.cut()
    const after = testClient(options)
    const chat = after.open(id)
    expect(await chat.whenSynced()).toBe(false)
    // At once: the window from IndexedDB and the newest cached page below it.
    await until(
      'cached history shown',
      () => chat.oldestSeq() ?? Number.POSITIVE_INFINITY,
      (oldest) => oldest <= chat.sealedThrough(),
    )
    const fetchesOffline = network.fetches()
    while ((await chat.loadOlder(5)) > 0) {}
    expect(chat.oldestSeq()).toBe(cachedFrom)
    expect(chat.messages().map((m) => m.id)).toEqual(shownBefore)
    expect(chat.hasOlder()).toBe(true) // the rest is on the server
    expect(network.fetches()).toBeGreaterThan(fetchesOffline) // it tried, and resolved 0

    network.restore()
    after.reconnectAll()
    expect(await chat.whenSynced()).toBe(true)
    await pageToTheBeginning(chat, 200)
    expect(chat.messages().map((m) => m.id)).toEqual(sent.map((m) => m.id))
    await after.close()
  })

  it('refuses with the server’s reason when the token is not accepted', async () => {
    const { id, bob } = await conversationWith(15)
    const client = testClient({ url: server.url, token: bob, userId: 'bob' })
    const chat = client.open(id)
    await chat.whenSynced()
    chat.setToken('not.a.token')
    const refusal = await chat.loadOlder().catch((error: unknown) => error)
    expect(refusal).toBeInstanceOf(HistoryRequestError)
    expect((refusal as HistoryRequestError).status).toBe(401)
    expect(chat.hasOlder()).toBe(true)
    await client.close()
  })
})

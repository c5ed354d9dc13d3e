import {
  Conversation,
  type HistoryMessage,
  initConversation,
  messageKey,
  newConversationDoc,
  sealThrough,
  stampUnsequenced,
  userRoot,
} from '@ticks/core'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { HistoryUnreachableError } from '../src/history-api.js'
import { memoryHistoryCache } from '../src/history-cache.js'
import { HistoryPager } from '../src/history-pager.js'

/**
 * The pager over a bare document: the server's history is served by hand, with a hole (a message
 * stamped, then deleted before it was sealed, so no page ever holds its seq).
 */
function sealedConversation(count: number, hole: number, window: number) {
  const server = newConversationDoc('c')
  initConversation(server, { title: 't', members: { alice: 'owner', bob: 'member' } })
  const writer = new Conversation(server, { userId: 'alice' })
  const sent = Array.from({ length: count }, (_, i) => writer.send(`m${i + 1}`))
  stampUnsequenced(writer.conversationIndex)
  server.getMap(userRoot('alice')).delete(messageKey(sent[hole - 1]!.id))
  const sealed: HistoryMessage[] = sealThrough(writer.conversationIndex, count - window).map(
    ({ record, author, seq }) => ({ ...record, author, seq }),
  )
  const requests: number[] = []
  const fetchPage = async (before: number, limit: number) => {
    requests.push(before)
    return { messages: sealed.filter((m) => m.seq < before).slice(-limit), sealedThrough: count - window }
  }
  const replica = () => {
    const doc = new Y.Doc({ guid: 'c' })
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(server))
    return new Conversation(doc, { userId: 'bob' })
  }
  return { sealed, requests, fetchPage, replica }
}

describe('HistoryPager', () => {
  it('steps over a seq no page holds, and serves a reopened conversation from the cache alone', async () => {
    const { requests, fetchPage, replica } = sealedConversation(30, 7, 10)
    const cache = memoryHistoryCache()
    const chat = replica()
    const pager = new HistoryPager({ conversation: chat, cache, fetchPage })
    expect(chat.messages().map((m) => m.seq)).toEqual(Array.from({ length: 10 }, (_, i) => 21 + i))
    const added: number[] = []
    while (pager.hasOlder()) added.push(await pager.loadOlder(4))
    expect(added).toEqual([4, 4, 4, 4, 3])
    const everyButTheHole = Array.from({ length: 30 }, (_, i) => i + 1).filter((seq) => seq !== 7)
    expect(chat.messages().map((m) => m.seq)).toEqual(everyButTheHole)
    expect(requests).toEqual([21, 17, 13, 9, 4]) // the page before 9 spans the hole: 4, 5, 6, 8
    pager.close()

    // Reopened: the same pages from the cache, the hole known to be one, not a reason to ask.
    const again = replica()
    const cached = new HistoryPager({ conversation: again, cache, fetchPage })
    while (cached.hasOlder()) await cached.loadOlder(6)
    expect(again.messages().map((m) => m.seq)).toEqual(everyButTheHole)
    expect(requests).toHaveLength(5)
  })

  it('resolves 0 offline and keeps hasOlder, then pages once the server answers again', async () => {
    const { fetchPage, replica } = sealedConversation(20, 3, 5)
    let online = false
    const chat = replica()
    const pager = new HistoryPager({
      conversation: chat,
      cache: memoryHistoryCache(),
      fetchPage: (before, limit) =>
        online ? fetchPage(before, limit) : Promise.reject(new HistoryUnreachableError('offline')),
    })
    expect(await pager.loadOlder(50)).toBe(0)
    expect(pager.hasOlder()).toBe(true)
    online = true
    expect(await pager.loadOlder(50)).toBe(14)
    expect(pager.hasOlder()).toBe(false)
  })
})

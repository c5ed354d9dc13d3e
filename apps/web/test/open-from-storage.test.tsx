import 'fake-indexeddb/auto'
import { createClient, databaseName, type InboxEntry, indexedDbStore, type TicksClient } from '@ticks/client'
import { Conversation, initConversation, randomId, stampUnsequenced } from '@ticks/core'
import { createRoot } from 'solid-js'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { createLiveChatModel } from '../src/chat/live-chat-model.js'

/**
 * Issue 15: a long chat opens from what this device stored when that is as current as the inbox
 * feed, without waiting for the server. The network here never answers (a socket that stays
 * connecting), so only the stored copy can open the chat before the model's 5 s fallback.
 */
class NeverOpens {
  static readonly CONNECTING = 0
  static readonly OPEN = 1
  static readonly CLOSING = 2
  static readonly CLOSED = 3
  readyState = 0
  binaryType = 'arraybuffer'
  onopen: (() => void) | null = null
  onmessage: (() => void) | null = null
  onerror: (() => void) | null = null
  onclose: ((event: { code: number; reason: string }) => void) | null = null
  send(): void {}
  close(): void {
    if (this.readyState === 3) return
    this.readyState = 3
    this.onclose?.({ code: 1006, reason: '' })
  }
  addEventListener(): void {}
  removeEventListener(): void {}
}

describe('opening a chat from this device', () => {
  const clients: TicksClient[] = []
  afterEach(async () => {
    for (const client of clients.splice(0)) await client.close()
  })

  /** A conversation as the background delivery would have stored it: 30 stamped messages, bob read 20. */
  async function storedConversation(userId: string) {
    const id = randomId()
    const doc = new Y.Doc({ guid: id })
    initConversation(doc, { title: 'Long', members: { alice: 'owner', bob: 'member' } })
    const alice = new Conversation(doc, { userId: 'alice', replicaId: 'a1' })
    const sent = Array.from({ length: 30 }, (_, i) => alice.send(`message ${i}`))
    stampUnsequenced(alice.conversationIndex)
    new Conversation(doc, { userId: 'bob', replicaId: 'b-old' }).markRead(sent[19]!.id)
    const store = indexedDbStore(databaseName(userId, id), doc)
    await store.whenLoaded
    expect(await store.whenPersisted()).toBe(true)
    await store.destroy()
    return { id, sent }
  }

  const feedEntry = (id: string, lastSeq: number, readSeq: number): InboxEntry => ({
    id,
    title: 'Long',
    members: {},
    lastMessage: null,
    updatedAt: 0,
    lastSeq,
    readSeq,
    deliveredSeq: readSeq,
    unread: lastSeq - readSeq,
  })

  /** How long until the chat model says it may open, or 'waiting' after `ms`. */
  async function openedWithin(id: string, entry: InboxEntry | undefined, ms: number) {
    const client = createClient({
      url: 'ws://127.0.0.1:9',
      token: 't',
      userId: 'bob',
      persistence: 'indexeddb',
      WebSocket: NeverOpens as unknown as typeof WebSocket,
    })
    clients.push(client)
    const started = performance.now()
    return createRoot(async (dispose) => {
      const model = createLiveChatModel(client, id, { feedEntry: () => entry })
      try {
        while (!model.loaded()) {
          if (performance.now() - started > ms) return { opened: false as const, firstUnread: undefined }
          await new Promise((resolve) => setTimeout(resolve, 10))
        }
        return { opened: true as const, firstUnread: model.firstUnread(), shown: model.messages().length }
      } finally {
        dispose()
      }
    })
  }

  it('opens at once, at the first unread, when the stored copy holds what the feed says', async () => {
    const { id, sent } = await storedConversation('bob')
    const result = await openedWithin(id, feedEntry(id, 30, 20), 2000)
    expect(result).toEqual({ opened: true, firstUnread: sent[20]!.id, shown: 30 })
  })

  it('waits for the server when the feed knows more than the stored copy', async () => {
    const { id } = await storedConversation('bob')
    // A newer message, or a read on another device, that this device has not stored.
    expect((await openedWithin(id, feedEntry(id, 31, 20), 1000)).opened).toBe(false)
    expect((await openedWithin(id, feedEntry(id, 30, 25), 1000)).opened).toBe(false)
    // And without the feed (nothing to compare with) it waits too.
    expect((await openedWithin(id, undefined, 1000)).opened).toBe(false)
  })
})

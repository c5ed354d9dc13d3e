import { createClient, type LiveConversation, type TicksClient } from '@ticks/client'
import { createSignal, onCleanup } from 'solid-js'
import { ApiError, type ConversationInfo, createConversationRequest, listConversations } from './api.js'
import type { ConversationSummary, ListError } from './components/conversation-list.js'
import { type ListedConversation, mentionsUser, newestFirst, summarize } from './conversation-summary.js'
import type { Session } from './session.js'

const listKey = (userId: string) => `ticks.conversations.${userId}`

function cachedList(userId: string): ListedConversation[] {
  try {
    return JSON.parse(localStorage.getItem(listKey(userId)) ?? '[]') as ListedConversation[]
  } catch {
    return []
  }
}

/**
 * The signed-in user's conversations, over one socket (the client's default, shared transport):
 * the list and the chat on screen alike. The list follows the server's inbox feed (a
 * conversation someone adds us to appears at once, with its last message and unread count, no
 * polling) and is cached in localStorage for an offline reload; only the chat on screen is opened
 * (from IndexedDB, then the server). The client delivers in the background what the list says
 * arrived ("delivered" = a device of the recipient has it) and sends what a chat left unsent.
 */
export function createInbox(session: Session) {
  const client: TicksClient = createClient({
    url: location.origin.replace(/^http/, 'ws'),
    token: session.token,
    userId: session.userId,
    persistence: 'indexeddb',
  })
  const [list, setList] = createSignal<ListedConversation[]>(cachedList(session.userId))
  const [listError, setListError] = createSignal<ListError>()
  /** The chat on screen, whose own document is fresher than the feed (an unsent message). */
  const [shown, setShown] = createSignal<{ conversation: LiveConversation; version: number }>()

  const arrivalListeners = new Set<(row: ConversationSummary) => void>()
  /** Rows whose newest message is new since the last list, and someone else's (notifications). */
  const announceArrivals = (before: Map<string, ListedConversation>, rows: ListedConversation[]) => {
    if (arrivalListeners.size === 0) return
    for (const row of rows) {
      const last = row.lastMessage
      const known = before.get(row.id)?.lastMessage
      if (!last || last.author === session.userId || (known && known.createdAt >= last.createdAt)) continue
      const summary = summarize(row, undefined, session.userId)
      for (const listener of arrivalListeners) listener(summary)
    }
  }

  const adopt = (infos: ConversationInfo[], fromFeed = false) => {
    // When this device first listed each one: how a conversation with no messages yet is ranked.
    const before = new Map(list().map((info) => [info.id, info]))
    const now = Date.now()
    const rows: ListedConversation[] = infos.map((info) => ({
      id: info.id,
      title: info.title,
      listedAt: before.get(info.id)?.listedAt ?? now,
      lastMessage: info.lastMessage
        ? {
            author: info.lastMessage.author,
            text: info.lastMessage.deleted ? 'This message was deleted' : info.lastMessage.text,
            createdAt: info.lastMessage.createdAt,
            mentionsMe: mentionsUser(info.lastMessage, info.members, session.userId),
          }
        : null,
      unread: info.unread ?? 0,
      ...(info.mentions !== undefined && { unreadMentions: info.mentions }),
      joinedAt:
        (Array.isArray(info.members) ? undefined : info.members?.[session.userId]?.joinedAt) ??
        before.get(info.id)?.joinedAt,
    }))
    localStorage.setItem(listKey(session.userId), JSON.stringify(rows))
    setList(rows)
    if (fromFeed && feedHeard) announceArrivals(before, rows)
  }
  /** The feed's first list only says what is there; what changes after it arrived. */
  let feedHeard = false

  const refresh = async () => {
    if (!navigator.onLine) return
    try {
      adopt(await listConversations(session.token))
      setListError(undefined)
    } catch (cause) {
      setListError({
        message: (cause as Error).message,
        sessionExpired: cause instanceof ApiError && cause.status === 401,
      })
    }
  }

  const feed = client.inbox()
  const offFeed = feed.onChange(() => {
    if (!feed.isLoaded) return
    adopt(feed.entries(), true)
    feedHeard = true
  })
  // Once over HTTP as well: a refused session (401) says so on the list, which a socket cannot.
  void refresh()
  // The browser knows it lost the network before a socket times out: stop trusting the socket
  // now, so unsent messages show their clocks at once (`pause` leaves alone a conversation the
  // server stopped: resuming would ask again for what was refused).
  const onOffline = () => client.pause()
  const onOnline = () => {
    client.resume()
    void refresh()
  }
  if (!navigator.onLine) client.pause()
  addEventListener('offline', onOffline)
  addEventListener('online', onOnline)
  onCleanup(() => {
    offFeed()
    removeEventListener('offline', onOffline)
    removeEventListener('online', onOnline)
    void client.close()
  })

  const rows = (): ConversationSummary[] => {
    const open = shown()
    return newestFirst(
      list().map((info) =>
        summarize(info, open?.conversation.id === info.id ? open.conversation : undefined, session.userId),
      ),
    )
  }

  return {
    client,
    listError,
    /** Newest activity first. */
    summaries: rows,
    onArrival(listener: (row: ConversationSummary) => void): () => void {
      arrivalListeners.add(listener)
      return () => arrivalListeners.delete(listener)
    },
    /** Unread messages over every conversation (the page title shows them). */
    unreadTotal: (): number => rows().reduce((sum, row) => sum + row.unread, 0),
    /** The chat on screen: its row follows its document until it is let go (returns the release). */
    showing(conversation: LiveConversation): () => void {
      let version = 0
      setShown({ conversation, version })
      const off = conversation.onChange(() => setShown({ conversation, version: ++version }))
      return () => {
        off()
        if (shown()?.conversation === conversation) setShown(undefined)
      }
    },
    async create(title: string, members: string[]): Promise<string> {
      const { id } = await createConversationRequest(session.token, title, members)
      adopt([...list().filter((info) => info.id !== id), { id, title, lastMessage: null, unread: 0 }])
      return id
    },
  }
}

export type Inbox = ReturnType<typeof createInbox>

import { createClient, type LiveConversation, type TicksClient } from '@ticks/client'
import { createSignal, onCleanup } from 'solid-js'
import { ApiError, createConversationRequest, listConversations } from './api.js'
import { unreadCount } from './chat/unread.js'
import type { ConversationSummary, ListError } from './components/conversation-list.js'
import { type ListedConversation, newestFirst, summarize } from './conversation-summary.js'
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
 * The signed-in user's conversations, each kept open and live (as a messenger does: a message is
 * "delivered" once the app has it, not when its conversation is opened), all over one socket. The
 * list follows the server's inbox feed on that socket (a conversation someone adds us to appears
 * at once, no polling); it is cached in localStorage, and the documents live in IndexedDB, so a
 * reload while offline shows everything.
 */
export function createInbox(session: Session) {
  const client: TicksClient = createClient({
    url: location.origin.replace(/^http/, 'ws'),
    token: session.token,
    userId: session.userId,
    persistence: 'indexeddb',
    transport: 'shared',
  })
  const open = new Map<string, LiveConversation>()
  const unsubscribers: Array<() => void> = []
  const [list, setList] = createSignal<ListedConversation[]>(cachedList(session.userId))
  const [version, setVersion] = createSignal(0)
  const [listError, setListError] = createSignal<ListError>()

  const ensureOpen = (infos: ListedConversation[]) => {
    for (const info of infos) {
      if (open.has(info.id)) continue
      const conversation = client.open(info.id)
      open.set(info.id, conversation)
      unsubscribers.push(conversation.onChange(() => setVersion((v) => v + 1)))
    }
  }

  const adopt = (infos: Array<{ id: string; title: string }>) => {
    // When this device first listed each one: how a conversation with no messages yet is ranked
    // until its document says when the user joined it.
    const listedAt = new Map(list().map((info) => [info.id, info.listedAt]))
    const now = Date.now()
    const slim = infos.map(({ id, title }) => ({ id, title, listedAt: listedAt.get(id) ?? now }))
    localStorage.setItem(listKey(session.userId), JSON.stringify(slim))
    setList(slim)
    ensureOpen(slim)
  }

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

  ensureOpen(list())
  // Every conversation is open here, so the feed need not deliver in the background.
  const feed = client.inbox({ deliver: false })
  const offFeed = feed.onChange(() => {
    if (feed.isLoaded) adopt(feed.entries())
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
    for (const unsubscribe of unsubscribers) unsubscribe()
    void client.close()
  })

  return {
    client,
    listError,
    /** Unread messages over every conversation (the page title shows them). */
    unreadTotal: (): number => {
      version()
      return [...open.values()].reduce((sum, conversation) => sum + unreadCount(conversation), 0)
    },
    /** Newest activity first. */
    summaries: (): ConversationSummary[] => {
      version()
      return newestFirst(list().map((info) => summarize(info, open.get(info.id), session.userId)))
    },
    async create(title: string, members: string[]): Promise<string> {
      const { id } = await createConversationRequest(session.token, title, members)
      adopt([...list().filter((info) => info.id !== id), { id, title }])
      return id
    },
  }
}

export type Inbox = ReturnType<typeof createInbox>

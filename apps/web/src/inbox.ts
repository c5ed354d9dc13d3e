import { createClient, type LiveConversation, type TicksClient } from '@ticks/client'
import { createSignal, onCleanup } from 'solid-js'
import { ApiError, createConversationRequest, listConversations } from './api.js'
import type { ConversationSummary, ListError } from './components/conversation-list.js'
import { type ListedConversation, newestFirst, summarize } from './conversation-summary.js'
import type { Session } from './session.js'

/** How often the list is asked for conversations others added us to. */
const LIST_REFRESH_MS = 5000

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
 * "delivered" once the app has it, not when its conversation is opened). The listing is cached in
 * localStorage, and the documents live in IndexedDB, so a reload while offline shows everything.
 */
export function createInbox(session: Session) {
  const client: TicksClient = createClient({
    url: location.origin.replace(/^http/, 'ws'),
    token: session.token,
    userId: session.userId,
    persistence: 'indexeddb',
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
  void refresh()
  const timer = setInterval(refresh, LIST_REFRESH_MS)
  // The browser knows it lost the network before a socket times out: stop trusting the sockets
  // now, so unsent messages show their clocks at once. A disconnected conversation stays so until
  // `reconnect()` (the client's own `online` handling only cuts back-offs short), so those taken
  // down here are brought back on `online`. One the server stopped (4401/4403/4404) is left alone:
  // reconnecting would clear the stop and ask again for what was refused.
  const wentOffline = new Set<LiveConversation>()
  const onOffline = () => {
    for (const conversation of open.values()) {
      if (conversation.stopped) continue
      conversation.disconnect()
      wentOffline.add(conversation)
    }
  }
  const onOnline = () => {
    for (const conversation of wentOffline) conversation.reconnect()
    wentOffline.clear()
    void refresh()
  }
  addEventListener('offline', onOffline)
  addEventListener('online', onOnline)
  onCleanup(() => {
    clearInterval(timer)
    removeEventListener('offline', onOffline)
    removeEventListener('online', onOnline)
    for (const unsubscribe of unsubscribers) unsubscribe()
    void client.close()
  })

  return {
    client,
    listError,
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

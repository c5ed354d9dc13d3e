import { createClient, type LiveConversation, type TicksClient } from '@ticks/client'
import { createSignal, onCleanup } from 'solid-js'
import { type ConversationInfo, createConversationRequest, listConversations } from './api.js'
import { unreadCount } from './chat/unread.js'
import type { ConversationSummary } from './components/conversation-list.js'
import type { Session } from './session.js'

/** How often the list is asked for conversations others added us to. */
const LIST_REFRESH_MS = 5000

const listKey = (userId: string) => `ticks.conversations.${userId}`

function cachedList(userId: string): ConversationInfo[] {
  try {
    return JSON.parse(localStorage.getItem(listKey(userId)) ?? '[]') as ConversationInfo[]
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
  const [list, setList] = createSignal<ConversationInfo[]>(cachedList(session.userId))
  const [version, setVersion] = createSignal(0)
  const [listError, setListError] = createSignal<string>()

  const ensureOpen = (infos: ConversationInfo[]) => {
    for (const info of infos) {
      if (open.has(info.id)) continue
      const conversation = client.open(info.id)
      open.set(info.id, conversation)
      unsubscribers.push(conversation.onChange(() => setVersion((v) => v + 1)))
    }
  }

  const adopt = (infos: ConversationInfo[]) => {
    const slim = infos.map(({ id, title }) => ({ id, title }))
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
      setListError((cause as Error).message)
    }
  }

  ensureOpen(list())
  void refresh()
  const timer = setInterval(refresh, LIST_REFRESH_MS)
  // The browser knows it lost the network before a socket times out: stop trusting the sockets
  // now, so unsent messages show their clocks at once. The client reconnects on `online`.
  const onOffline = () => {
    for (const conversation of open.values()) conversation.disconnect()
  }
  const onOnline = () => void refresh()
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
      const rows = list().map((info) => {
        const conversation = open.get(info.id)
        const messages = conversation?.messages() ?? []
        const last = messages[messages.length - 1]
        return {
          id: info.id,
          title: conversation?.title() || info.title,
          unread: conversation ? unreadCount(conversation) : 0,
          lastMessage: last && {
            author: last.author,
            text: last.text,
            createdAt: last.createdAt,
            own: last.author === session.userId,
          },
        }
      })
      return rows.sort((a, b) => (b.lastMessage?.createdAt ?? 0) - (a.lastMessage?.createdAt ?? 0))
    },
    async create(title: string, members: string[]): Promise<string> {
      const { id } = await createConversationRequest(session.token, title, members)
      adopt([...list().filter((info) => info.id !== id), { id, title }])
      return id
    },
  }
}

export type Inbox = ReturnType<typeof createInbox>

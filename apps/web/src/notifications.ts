import { createSignal, onCleanup } from 'solid-js'
import type { ConversationSummary } from './components/conversation-list.js'

/** What a desktop notification needs of the conversation list. */
export interface Arrivals {
  /** Called for each conversation whose newest message changed and is someone else's. */
  onArrival(listener: (row: ConversationSummary) => void): () => void
}

const supported = () => typeof Notification !== 'undefined'

/**
 * Desktop notifications, asked for politely: never on load, only when the user presses "Turn on
 * notifications" (browsers ignore or punish a request that no gesture led to). Once allowed, a
 * message arriving in a conversation that is not on screen, while the page is hidden, shows one
 * notification per conversation (a newer one replaces it: same tag); clicking it opens the chat.
 */
export function createNotifications(
  arrivals: Arrivals,
  options: { activeId: () => string | undefined; open: (id: string) => void },
) {
  const [permission, setPermission] = createSignal<NotificationPermission | 'unsupported'>(
    supported() ? Notification.permission : 'unsupported',
  )
  const off = arrivals.onArrival((row) => {
    if (permission() !== 'granted' || !document.hidden || row.id === options.activeId()) return
    const last = row.lastMessage
    if (!last) return
    const body = last.mentionsMe
      ? `${last.author} mentioned you: ${last.text}`
      : `${last.author}: ${last.text}`
    const notification = new Notification(row.title, { body, tag: row.id })
    notification.onclick = () => {
      window.focus()
      options.open(row.id)
      notification.close()
    }
  })
  onCleanup(off)
  return {
    /** Whether to offer the "Turn on notifications" button. */
    canAsk: () => permission() === 'default',
    async ask(): Promise<void> {
      if (!supported()) return
      setPermission(await Notification.requestPermission())
    },
  }
}

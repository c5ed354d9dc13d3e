import type { ConversationSummary, Store } from '../store/store.js'
import { type InboxEntry, inboxEntry } from './inbox-entry.js'
import type { InboxHub } from './inbox-hub.js'

export type InboxMessage =
  | { type: 'full'; conversations: InboxEntry[] }
  | { type: 'changed'; conversation: InboxEntry }
  | { type: 'removed'; id: string }

/** Changes of one conversation within this window go out as one (a busy chat commits often). */
const COALESCE_MS = 50

/**
 * One user's inbox on one socket: the full list from the store's summaries (no document is
 * loaded), then every change the hub hears of, coalesced per conversation. A conversation the user
 * was removed from is announced as removed.
 */
export function openInboxFeed(options: {
  store: Store
  hub: InboxHub
  userId: string
  send: (message: InboxMessage) => void
  onError: (error: unknown) => void
}): { close(): void } {
  const { store, hub, userId, send } = options
  const shown = new Map<string, { updatedAt: number; unwatch: () => void }>()
  const pending = new Map<string, ConversationSummary>()
  let timer: ReturnType<typeof setTimeout> | undefined
  /** Changes heard while the full list is read: sent after it, unless the list was newer. */
  let early: ConversationSummary[] | null = []
  let closed = false

  const onSummary = (summary: ConversationSummary) => {
    if (closed) return
    if (early) {
      early.push(summary)
      return
    }
    pending.set(summary.id, summary)
    timer ??= setTimeout(flush, COALESCE_MS)
  }
  const flush = () => {
    timer = undefined
    const summaries = [...pending.values()]
    pending.clear()
    for (const summary of summaries) apply(summary)
  }
  const apply = (summary: ConversationSummary) => {
    const known = shown.get(summary.id)
    if (Object.hasOwn(summary.members, userId)) {
      if (known && summary.updatedAt < known.updatedAt) return // older than what was shown
      if (known) known.updatedAt = summary.updatedAt
      else shown.set(summary.id, { updatedAt: summary.updatedAt, unwatch: hub.watch(summary.id, onSummary) })
      send({ type: 'changed', conversation: inboxEntry(summary, userId) })
      return
    }
    if (!known) return
    known.unwatch()
    shown.delete(summary.id)
    send({ type: 'removed', id: summary.id })
  }

  const unsubscribe = hub.subscribeUser(userId, onSummary)
  store.listConversations(userId).then(
    (summaries) => {
      if (closed) return
      for (const summary of summaries) {
        shown.set(summary.id, { updatedAt: summary.updatedAt, unwatch: hub.watch(summary.id, onSummary) })
      }
      send({ type: 'full', conversations: summaries.map((summary) => inboxEntry(summary, userId)) })
      const heard = early ?? []
      early = null
      for (const summary of heard) apply(summary)
    },
    (error: unknown) => {
      if (!closed) options.onError(error)
    },
  )
  return {
    close() {
      closed = true
      unsubscribe()
      clearTimeout(timer)
      for (const { unwatch } of shown.values()) unwatch()
      shown.clear()
    },
  }
}

import type { TicksClient } from '@ticks/client'
import { createConversation } from '@ticks/solid'
import { createSignal, onCleanup } from 'solid-js'
import type { ChatModel } from './chat-model.js'
import { firstUnread } from './unread.js'

/**
 * How long the view waits for the first sync before opening with what it has: a socket stuck
 * connecting must not hold back read receipts for good.
 */
const FIRST_SYNC_WAIT_MS = 5000

/**
 * The chat screen's model from `@ticks/solid`'s `createConversation`, for the lifetime of the
 * calling owner (it releases its handle on cleanup). Its messages are a store reconciled by id, so a
 * status change re-renders one bubble.
 */
export function createLiveChatModel(client: Pick<TicksClient, 'open'>, conversationId: string): ChatModel {
  const state = createConversation(client, conversationId)
  const [loaded, setLoaded] = createSignal(false)
  // Local storage first, then the server: a reload shows stored messages at once and the rest
  // a moment later, and both must be in before the view can tell what is unread.
  const timer = setTimeout(() => setLoaded(true), FIRST_SYNC_WAIT_MS)
  void state.conversation.whenSynced().then(
    () => setLoaded(true),
    () => setLoaded(true),
  )
  onCleanup(() => clearTimeout(timer))
  return {
    userId: state.conversation.userId,
    maxTextBytes: state.conversation.limits.maxTextBytes,
    loaded,
    title: () => state.title,
    messages: () => state.messages,
    members: () => state.members,
    connection: () => state.connection,
    stopped: () => state.stopped,
    presence: () => state.presence,
    firstUnread: () => firstUnread(state.conversation),
    receipts: (id) => state.receipts(id),
    failureReason: (id) => state.failureReason(id),
    send: (text) => void state.send(text),
    retry: (id) => state.retry(id),
    discard: (id) => state.discard(id),
    markRead: (id) => state.markRead(id),
    setTyping: (typing) => state.setTyping(typing),
    reconnect: () => state.reconnect(),
  }
}

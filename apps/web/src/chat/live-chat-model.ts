import type { TicksClient } from '@ticks/client'
import { createConversation } from '@ticks/solid'
import type { ChatModel } from './chat-model.js'
import { firstUnread } from './unread.js'

/**
 * The chat screen's model from `@ticks/solid`'s `createConversation`, for the lifetime of the
 * calling owner (it releases its handle on cleanup). Its messages are a store reconciled by id, so a
 * status change re-renders one bubble.
 */
export function createLiveChatModel(client: Pick<TicksClient, 'open'>, conversationId: string): ChatModel {
  const state = createConversation(client, conversationId)
  return {
    userId: state.conversation.userId,
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

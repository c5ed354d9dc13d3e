import type { Conversation, Message } from '@ticks/core'

/** From someone else and above this user's read watermark (an unstamped one is always unread). */
export function isUnread(conversation: Conversation, message: Message): boolean {
  if (message.author === conversation.userId) return false
  const readUpTo = conversation.conversationIndex.watermarkOf(conversation.userId).r
  return message.seq === undefined || message.seq > readUpTo
}

export function unreadCount(conversation: Conversation): number {
  return conversation.messages().filter((message) => isUnread(conversation, message)).length
}

export function firstUnread(conversation: Conversation): string | undefined {
  return conversation.messages().find((message) => isUnread(conversation, message))?.id
}

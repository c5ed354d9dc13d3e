import { type Conversation, DEFAULT_LIMITS, mentionsIn } from '@ticks/core'
import { unreadCount } from './chat/unread.js'
import type { ConversationSummary } from './components/conversation-list.js'

/** A conversation as the list knows it before its document is open: from the server's inbox feed. */
export interface ListedConversation {
  id: string
  title: string
  /** When this device first listed it (epoch ms). */
  listedAt?: number
  /** From the feed: its last stamped message, this user's unread count, when this user joined. */
  lastMessage?: { author: string; text: string; createdAt: number; mentionsMe?: boolean } | null
  unread?: number
  /** Unread messages that mention this user, when the feed counts them. */
  unreadMentions?: number
  joinedAt?: number
}

export interface RankedSummary extends ConversationSummary {
  /** Its newest message, else when this user joined it, else when this device first listed it. */
  activeAt: number
}

/**
 * One row of the list. A conversation with no messages yet ranks by when the user joined it (its
 * creation, for its creator), so a new one comes first rather than below every older one.
 */
export function summarize(
  info: ListedConversation,
  conversation: Conversation | undefined,
  userId: string,
): RankedSummary {
  const messages = conversation?.messages() ?? []
  const open = conversation ? messages[messages.length - 1] : undefined
  const last = open ?? (conversation ? undefined : (info.lastMessage ?? undefined))
  const joinedAt = conversation ? conversation.members()[userId]?.joinedAt : info.joinedAt
  return {
    id: info.id,
    title: conversation?.title() || info.title,
    unread: conversation ? unreadCount(conversation) : (info.unread ?? 0),
    unreadMentions: conversation ? undefined : info.unreadMentions,
    lastMessage: last && {
      author: last.author,
      text: open?.deleted ? 'This message was deleted' : last.text,
      createdAt: last.createdAt,
      own: last.author === userId,
      mentionsMe: open ? open.mentions?.includes(userId) === true : info.lastMessage?.mentionsMe === true,
    },
    activeAt: last?.createdAt ?? joinedAt ?? info.listedAt ?? 0,
  }
}

/** Newest activity first. */
export const newestFirst = <T extends RankedSummary>(rows: T[]): T[] =>
  [...rows].sort((a, b) => b.activeAt - a.activeAt)

/**
 * Whether the last message of a listed conversation names `userId`: the server's recorded mentions
 * when its listing carries them; otherwise (the inbox feed does not yet) core's own rule over the
 * text and the members, which is how the message recorded them when it was sent.
 */
export function mentionsUser(
  lastMessage: { text: string; mentions?: string[] } | null | undefined,
  members: Record<string, unknown> | string[] | undefined,
  userId: string,
): boolean {
  if (!lastMessage) return false
  if (lastMessage.mentions) return lastMessage.mentions.includes(userId)
  const memberIds = Array.isArray(members) ? members : Object.keys(members ?? {})
  const byId = new Map(memberIds.map((id) => [id, true]))
  return mentionsIn(lastMessage.text, byId, DEFAULT_LIMITS.maxMentions).includes(userId)
}

import type { ConversationSummary } from '../store/store.js'

/** One conversation as a user's inbox shows it (DESIGN section 11). */
export interface InboxEntry {
  id: string
  title: string
  members: ConversationSummary['members']
  lastMessage: ConversationSummary['lastMessage']
  updatedAt: number
  /** The highest seq (the order log's length). */
  lastSeq: number
  /** The user's read watermark: every message with seq ≤ readSeq was shown to them. */
  readSeq: number
  /** The user's delivered watermark: a device of theirs integrated every message with seq ≤ it. */
  deliveredSeq: number
  /**
   * Stamped messages from others above `readSeq`: exact up to `RECENT_AUTHORS` (100), which means
   * "that many or more".
   */
  unread: number
  /**
   * Of those unread messages, how many mention the user (issue 17): exact within the last
   * `RECENT_AUTHORS` messages, like `unread`. Absent when none does.
   */
  mentions?: number
}

/** What `userId`'s inbox shows of a conversation, from its summary alone (no document). */
export function inboxEntry(summary: ConversationSummary, userId: string): InboxEntry {
  const readSeq = summary.reads?.[userId] ?? 0
  const authors = summary.recentAuthors ?? []
  const lastSeq = summary.lastSeq ?? 0
  const firstSeq = lastSeq - authors.length + 1
  const mentioned = summary.recentMentions ?? []
  let unread = 0
  let mentions = 0
  for (let seq = Math.max(readSeq + 1, firstSeq); seq <= lastSeq; seq++) {
    if (authors[seq - firstSeq] === userId) continue
    unread++
    if (mentioned[seq - firstSeq]?.includes(userId)) mentions++
  }
  return {
    id: summary.id,
    title: summary.title,
    members: summary.members,
    lastMessage: summary.lastMessage,
    updatedAt: summary.updatedAt,
    lastSeq,
    readSeq,
    deliveredSeq: summary.delivered?.[userId] ?? 0,
    unread,
    ...(mentions > 0 && { mentions }),
  }
}

import type { ConversationIndex } from '@ticks/core'
import { type ConversationSummary, RECENT_AUTHORS } from '../store/store.js'

/**
 * The listing row of a conversation, read from its index (cheap: no scan of the messages). It also
 * carries what an inbox counts unread messages with: the members' read watermarks and the authors
 * of the last few stamped messages.
 */
export function summarize(index: ConversationIndex, updatedAt: number): ConversationSummary {
  const lastId = index.order[index.order.length - 1]
  const last = lastId === undefined ? undefined : index.messages.get(lastId)
  const members = Object.fromEntries([...index.members].map(([user, m]) => [user, { ...m }]))
  return {
    id: index.doc.guid,
    title: index.title,
    members,
    lastMessage: last
      ? {
          id: last.record.id,
          author: last.author,
          // What the list shows: the latest edit, or nothing once deleted for everyone (issue 17).
          text: last.deleted
            ? ''
            : (index.actions.editOf(last.author, last.record.id)?.text ?? last.record.text),
          createdAt: last.record.createdAt,
          seq: last.seq!,
          ...(last.deleted && { deleted: true as const }),
        }
      : null,
    updatedAt,
    lastSeq: index.lastSeq(),
    reads: Object.fromEntries(Object.keys(members).map((user) => [user, index.watermarkOf(user).r])),
    delivered: Object.fromEntries(Object.keys(members).map((user) => [user, index.watermarkOf(user).d])),
    // The live window holds at least the last RECENT_AUTHORS stamps unless the server's window is smaller.
    recentAuthors: index.order.slice(-RECENT_AUTHORS).map((id) => index.messages.get(id)?.author ?? ''),
    // Who each of them mentions (issue 17), aligned with recentAuthors; a deleted one mentions nobody.
    recentMentions: index.order
      .slice(-RECENT_AUTHORS)
      .map((id) => index.messages.get(id)?.record.mentions ?? []),
  }
}

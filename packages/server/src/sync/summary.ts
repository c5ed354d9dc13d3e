import type { ConversationIndex } from '@ticks/core'
import type { ConversationSummary } from '../store/store.js'

/** The listing row of a conversation, read from its index (cheap: no scan of the messages). */
export function summarize(index: ConversationIndex, updatedAt: number): ConversationSummary {
  const lastId = index.order[index.order.length - 1]
  const last = lastId === undefined ? undefined : index.messages.get(lastId)
  return {
    id: index.doc.guid,
    title: index.title,
    members: Object.fromEntries([...index.members].map(([user, m]) => [user, { ...m }])),
    lastMessage: last
      ? {
          id: last.record.id,
          author: last.author,
          text: last.record.text,
          createdAt: last.record.createdAt,
          seq: last.seq!,
        }
      : null,
    updatedAt,
  }
}

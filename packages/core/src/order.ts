import type { ConversationIndex, IndexedMessage } from './conversation-index.js'

/** Unsequenced messages: by creation time, then id, so every replica agrees (DESIGN section 4). */
export const compareUnsequenced = (a: IndexedMessage, b: IndexedMessage): number =>
  a.record.createdAt - b.record.createdAt ||
  (a.record.id < b.record.id ? -1 : a.record.id > b.record.id ? 1 : 0)

/**
 * Display order: sequenced messages by seq, then unsequenced ones by createdAt and id. Pending
 * messages sit at the bottom and move into place when stamped, as in every mainstream chat app.
 */
export function displayOrder(index: ConversationIndex): IndexedMessage[] {
  const ordered: IndexedMessage[] = []
  index.order.forEach((id, position) => {
    const message = index.messages.get(id)
    // Skip a stamp whose message has not arrived yet, and a duplicate log entry.
    if (message && message.seq === index.sealedThrough + position + 1) ordered.push(message)
  })
  const pending = index
    .unsequenced()
    .map((id) => index.messages.get(id)!)
    .sort(compareUnsequenced)
  return ordered.concat(pending)
}

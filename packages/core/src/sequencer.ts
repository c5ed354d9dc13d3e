import type * as Y from 'yjs'
import type { ConversationIndex, SealedMessage } from './conversation-index.js'
import { compareUnsequenced } from './order.js'
import { messageKey, rootOfAuthor, SERVER_ROOT } from './schema.js'
import { signatureKey } from './signature-records.js'
import { signatureOfSealed } from './signed-entries.js'

/** Transaction origin of the sequencer's stamps, so hosts can tell them from other writes. */
export const SEQUENCER_ORIGIN = Symbol('ticks-sequencer')

/**
 * Stamp every message the document holds that the order log lacks: append their ids, in creation
 * order, in one transaction. Returns the ids stamped (seq = their new 1-based log positions).
 *
 * Only one sequencer may append to a conversation at a time (appends from two would interleave and
 * shift positions); the host must also make the stamp visible only after the messages it stamps
 * are durable, because `sent` means "persisted by the server".
 */
export function stampUnsequenced(index: ConversationIndex, origin: unknown = SEQUENCER_ORIGIN): string[] {
  const ids = index
    .unsequenced()
    .map((id) => index.messages.get(id)!)
    .sort(compareUnsequenced)
    .map((message) => message.record.id)
  if (ids.length === 0) return ids
  index.doc.transact(() => {
    index.doc.getArray<string>(SERVER_ROOT).push(ids)
  }, origin)
  return ids
}

/** The order log as a plain list (seq = index + 1), for hosts that do not keep an index. */
export const orderLog = (doc: Y.Doc): string[] => doc.getArray<string>(SERVER_ROOT).toArray()

/**
 * Seal every sequenced message with seq <= `throughSeq` (DESIGN section 12): in one transaction,
 * delete their entries (the message and its signature, which the record carries from then on:
 * the live document must not grow with history) from their authors' roots and the oldest
 * entries of the order log. Seqs do
 * not move (deleted log items keep their length), receipts are watermarks over seq, so sealed
 * messages keep their statuses. Returns what was sealed, in seq order, for the host to store as
 * history in the same durable step as the update this transaction makes.
 *
 * Pending messages are never sealed: only the order log's entries are. A stamp whose message is
 * gone (discarded after its stamp) is sealed without a record. Sequencer only, like stamping.
 */
export function sealThrough(
  index: ConversationIndex,
  throughSeq: number,
  origin: unknown = SEQUENCER_ORIGIN,
): SealedMessage[] {
  const count = Math.min(throughSeq, index.lastSeq()) - index.sealedThrough
  if (count <= 0) return []
  const sealed: SealedMessage[] = []
  for (let seq = index.sealedThrough + 1; seq <= index.sealedThrough + count; seq++) {
    const indexed = index.sequencedAt(seq)
    if (!indexed) continue
    const signature = indexed.deleted
      ? undefined
      : signatureOfSealed(index.doc, indexed.author, indexed.record.id)
    sealed.push({
      record: indexed.record,
      author: indexed.author,
      seq,
      ...(indexed.deleted && { deleted: true }),
      ...(signature && { signature }),
    })
  }
  const doc = index.doc
  doc.transact(() => {
    for (const { record, author } of sealed) {
      const root = doc.getMap(rootOfAuthor(author))
      root.delete(messageKey(record.id))
      // Whatever its shape: a malformed one would otherwise stay in the live document for good.
      if (root.has(signatureKey(record.id))) root.delete(signatureKey(record.id))
    }
    doc.getArray<string>(SERVER_ROOT).delete(0, count)
  }, origin)
  return sealed
}

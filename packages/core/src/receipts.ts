import type * as Y from 'yjs'
import type { ConversationIndex } from './conversation-index.js'
import { RECEIPT_KEY_PREFIX, receiptKey, userRoot, type Watermark } from './schema.js'
import { dominates, joinWatermarks } from './status.js'

/**
 * Raise this replica's receipt watermark to at least `target`. One writer per key (the replica),
 * only ever raised, so last-writer-wins on the key equals max. The value written also folds in the
 * user's other replicas, which lets this replica delete their keys it now dominates, in the same
 * transaction, so the map stays O(devices) and no observer sees a deletion without the raise.
 *
 * Returns false when nothing had to change.
 */
export function raiseWatermark(
  index: ConversationIndex,
  userId: string,
  replicaId: string,
  target: Watermark,
  origin?: unknown,
): boolean {
  const current = index.watermarkOf(userId)
  // Already covered by the user's receipts (perhaps another device's key, which may have deleted
  // this replica's own): writing again would only make the devices delete each other's keys forever.
  if (dominates(current, target)) return false
  const next = joinWatermarks(current, target)
  const own = index.replicaWatermarksOf(userId).get(replicaId)
  if (own && dominates(own, next)) return false
  const doc: Y.Doc = index.doc
  doc.transact(() => {
    const map = doc.getMap(userRoot(userId))
    map.set(receiptKey(replicaId), next)
    for (const [replica, watermark] of index.replicaWatermarksOf(userId)) {
      if (replica !== replicaId && dominates(next, watermark)) map.delete(RECEIPT_KEY_PREFIX + replica)
    }
  }, origin)
  return true
}

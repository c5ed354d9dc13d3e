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
 * `writerClient`: a Yjs client id of its own for receipts (see `withClientId`); default: the doc's.
 *
 * Returns false when nothing had to change.
 */
export function raiseWatermark(
  index: ConversationIndex,
  userId: string,
  replicaId: string,
  target: Watermark,
  origin?: unknown,
  writerClient?: number,
): boolean {
  const current = index.watermarkOf(userId)
  // Already covered by the user's receipts (perhaps another device's key, which may have deleted
  // this replica's own): writing again would only make the devices delete each other's keys forever.
  if (dominates(current, target)) return false
  const next = joinWatermarks(current, target)
  const own = index.replicaWatermarksOf(userId).get(replicaId)
  if (own && dominates(own, next)) return false
  const doc: Y.Doc = index.doc
  const write = () =>
    doc.transact(() => {
      const map = doc.getMap(userRoot(userId))
      map.set(receiptKey(replicaId), next)
      for (const [replica, watermark] of index.replicaWatermarksOf(userId)) {
        if (replica !== replicaId && dominates(next, watermark)) map.delete(RECEIPT_KEY_PREFIX + replica)
      }
    }, origin)
  if (writerClient === undefined) write()
  else withClientId(doc, writerClient, write)
  return true
}

/**
 * Run `write` with the document's Yjs client id set to `client`, then restore it.
 *
 * Why receipts get a client id of their own (DESIGN section 12): each raise overwrites the
 * replica's key, leaving the old value as a tombstone. Yjs merges tombstones of one client only
 * when their clocks are consecutive, so receipts written by the client that also writes messages
 * leave one tombstone per run of raises between two sends, forever (measured 4.2–4.5 bytes per
 * message of the conversation). Written by a client that writes nothing else, every overwritten
 * value of the session merges into one, and the sealed messages of the other client become one
 * garbage-collected run: the live document stops growing with history.
 */
export function withClientId(doc: Y.Doc, client: number, write: () => void): void {
  const own = doc.clientID
  doc.clientID = client
  try {
    write()
  } finally {
    doc.clientID = own
  }
}

import type * as Y from 'yjs'
import { SERVER_ROOT } from './schema.js'

/**
 * The order log (`server` root) read with absolute positions (DESIGN section 12).
 *
 * The sequencer only appends, and sealing deletes the oldest entries. A deleted Yjs array item
 * keeps its length in the document, so an entry's `seq` is one plus the length of every item
 * before it, deleted or not: sealing never renumbers, and a replica that integrated an entry has
 * integrated every entry before it (each append names the previous last item as its origin). The
 * deleted prefix costs almost nothing: consecutive deleted appends of one sequencer merge into one
 * item.
 */
export interface OrderLogShape {
  /** How many entries are sealed: every seq at or below this left the live document. */
  sealedThrough: number
  /** Live entries in seq order; `''` where an entry after the sealed prefix was deleted. */
  entries: string[]
}

/**
 * The length of the deleted prefix, and whether a deleted item follows a live one: a replica that
 * missed one seal but got the next holds live entries before deleted ones, and then every entry
 * after the gap must be placed by walking the whole log. Walks items, which are few: consecutive
 * appends of one sequencer merge.
 */
export function orderLogPrefix(log: Y.Array<string>): { sealedThrough: number; gap: boolean } {
  let sealedThrough = 0
  let seenLive = false
  for (let item = log._start; item !== null; item = item.right) {
    if (!item.deleted) seenLive = true
    else if (seenLive) return { sealedThrough, gap: true }
    else sealedThrough += item.length
  }
  return { sealedThrough, gap: false }
}

/** The whole log with absolute positions; a deletion past the prefix (never made) leaves a `''`. */
export function readOrderLogShape(log: Y.Array<string>): OrderLogShape {
  const entries: string[] = []
  let sealedThrough = 0
  let seenLive = false
  for (let item = log._start; item !== null; item = item.right) {
    if (!item.deleted) {
      seenLive = true
      for (const id of item.content.getContent()) entries.push(String(id))
    } else if (seenLive) {
      for (let i = 0; i < item.length; i++) entries.push('')
    } else {
      sealedThrough += item.length
    }
  }
  return { sealedThrough, entries }
}

/** The highest seq in a document's order log: every item counts, sealed (deleted) ones too. */
export function lastSeqOf(doc: Y.Doc): number {
  if (!doc.share.has(SERVER_ROOT)) return 0
  let seq = 0
  for (let item = doc.getArray<string>(SERVER_ROOT)._start; item !== null; item = item.right)
    seq += item.length
  return seq
}

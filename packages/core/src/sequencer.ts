import type * as Y from 'yjs'
import type { ConversationIndex } from './conversation-index.js'
import { compareUnsequenced } from './order.js'
import { SERVER_ROOT } from './schema.js'

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

import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'

/**
 * What nodes tell each other about a conversation, one `write…`/`read…` pair per frame (as
 * y-protocols does): a commit, with the store's entry numbers so a receiver can tell whether it
 * missed one, and presence.
 */
const COMMITTED = 0
const AWARENESS = 1

export type RelayFrame =
  | {
      type: 'committed'
      nodeId: string
      /**
       * Entries the store gave these updates: `firstEntry` … `lastEntry`, contiguous. Without
       * updates, a tip: "I committed up to `lastEntry`" (sent after a publish was dropped), so a
       * node behind it reads the store.
       */
      firstEntry: number
      lastEntry: number
      updates: Uint8Array[]
    }
  | { type: 'awareness'; nodeId: string; userId: string; update: Uint8Array }

export function writeCommitted(
  nodeId: string,
  firstEntry: number,
  lastEntry: number,
  updates: readonly Uint8Array[],
): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, COMMITTED)
  encoding.writeVarString(encoder, nodeId)
  encoding.writeVarUint(encoder, firstEntry)
  encoding.writeVarUint(encoder, lastEntry)
  encoding.writeVarUint(encoder, updates.length)
  for (const update of updates) encoding.writeVarUint8Array(encoder, update)
  return encoding.toUint8Array(encoder)
}

export function writeRelayAwareness(nodeId: string, userId: string, update: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, AWARENESS)
  encoding.writeVarString(encoder, nodeId)
  encoding.writeVarString(encoder, userId)
  encoding.writeVarUint8Array(encoder, update)
  return encoding.toUint8Array(encoder)
}

/** Decode a relay frame; undefined for anything else (a newer node's frame type, garbage). */
export function readRelayFrame(bytes: Uint8Array): RelayFrame | undefined {
  try {
    const decoder = decoding.createDecoder(bytes)
    const type = decoding.readVarUint(decoder)
    const nodeId = decoding.readVarString(decoder)
    if (type === COMMITTED) {
      const firstEntry = decoding.readVarUint(decoder)
      const lastEntry = decoding.readVarUint(decoder)
      const count = decoding.readVarUint(decoder)
      const updates: Uint8Array[] = []
      for (let i = 0; i < count; i++) updates.push(decoding.readVarUint8Array(decoder))
      return { type: 'committed', nodeId, firstEntry, lastEntry, updates }
    }
    if (type === AWARENESS) {
      const userId = decoding.readVarString(decoder)
      return { type: 'awareness', nodeId, userId, update: decoding.readVarUint8Array(decoder) }
    }
    return undefined
  } catch {
    return undefined
  }
}

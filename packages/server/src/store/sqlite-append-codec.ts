import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import type { AppendRequest, PreparedAppend } from './sqlite-log.js'

/**
 * A batch of appends as the SQLite worker receives it: one buffer, transferred, not cloned.
 * A structured clone of the requests (summaries, claims, nested records) cost the server more CPU
 * per commit than the write rules (issue 14's profile: `postMessage` 13–15 % of the server's busy
 * time under the fan-out bench); the summary and sealed records are serialised here once, as the
 * log stores them.
 */
export function writeAppendBatch(batch: readonly AppendRequest[]): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, batch.length)
  for (const { docId, updates, summary, fence, claims = [], sealed = [] } of batch) {
    encoding.writeVarString(encoder, docId)
    encoding.writeVarUint(encoder, updates.length)
    for (const update of updates) encoding.writeVarUint8Array(encoder, update)
    encoding.writeUint8(encoder, summary ? 1 : 0)
    if (summary) {
      encoding.writeVarString(encoder, JSON.stringify(summary))
      encoding.writeFloat64(encoder, summary.updatedAt)
      const members = Object.keys(summary.members)
      encoding.writeVarUint(encoder, members.length)
      for (const userId of members) encoding.writeVarString(encoder, userId)
    }
    encoding.writeUint8(encoder, fence ? 1 : 0)
    if (fence) {
      encoding.writeVarString(encoder, fence.nodeId)
      encoding.writeFloat64(encoder, fence.epoch)
    }
    encoding.writeVarUint(encoder, claims.length)
    for (const { key, holder } of claims) {
      encoding.writeVarString(encoder, key)
      encoding.writeVarString(encoder, holder)
    }
    encoding.writeVarUint(encoder, sealed.length)
    for (const record of sealed) {
      encoding.writeFloat64(encoder, record.seq)
      encoding.writeVarString(encoder, JSON.stringify(record))
    }
  }
  return encoding.toUint8Array(encoder)
}

/** The worker's side of `writeAppendBatch`: updates are views into the transferred buffer. */
export function readAppendBatch(bytes: Uint8Array): PreparedAppend[] {
  const decoder = decoding.createDecoder(bytes)
  const count = decoding.readVarUint(decoder)
  const batch: PreparedAppend[] = []
  for (let i = 0; i < count; i++) {
    const docId = decoding.readVarString(decoder)
    const updates = Array.from({ length: decoding.readVarUint(decoder) }, () =>
      decoding.readVarUint8Array(decoder),
    )
    const summary =
      decoding.readUint8(decoder) === 1
        ? {
            json: decoding.readVarString(decoder),
            updatedAt: decoding.readFloat64(decoder),
            memberIds: Array.from({ length: decoding.readVarUint(decoder) }, () =>
              decoding.readVarString(decoder),
            ),
          }
        : undefined
    const fence =
      decoding.readUint8(decoder) === 1
        ? { nodeId: decoding.readVarString(decoder), epoch: decoding.readFloat64(decoder) }
        : undefined
    const claims = Array.from({ length: decoding.readVarUint(decoder) }, () => ({
      key: decoding.readVarString(decoder),
      holder: decoding.readVarString(decoder),
    }))
    const sealed = Array.from({ length: decoding.readVarUint(decoder) }, () => ({
      seq: decoding.readFloat64(decoder),
      json: decoding.readVarString(decoder),
    }))
    batch.push({ docId, updates, summary, fence, claims, sealed })
  }
  return batch
}

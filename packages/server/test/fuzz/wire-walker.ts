import { createCursor, type Span, type VarintField, WalkError } from './byte-cursor.js'

/**
 * The y-websocket frame around a payload, and the two small payloads besides updates: state
 * vectors (sync step 1) and awareness updates. Same idea as `update-walker`: every varint's span.
 */

export interface FrameLayout {
  /** Message type, sync sub-type (sync frames only) and the payload's length prefix. */
  varints: VarintField[]
  /** The payload after its length prefix (absent for query-awareness). */
  payload: Span | undefined
}

const MESSAGE_SYNC = 0n
const MESSAGE_AWARENESS = 1n

export function walkFrame(frame: Uint8Array): FrameLayout {
  const cursor = createCursor(frame)
  const type = cursor.varint('message-type')
  if (type === MESSAGE_SYNC) cursor.varint('sync-type')
  else if (type !== MESSAGE_AWARENESS) return { varints: cursor.varints, payload: undefined }
  const length = cursor.count('payload-length')
  const start = cursor.position
  if (start + length !== frame.length) throw new WalkError('the payload does not end the frame')
  return { varints: cursor.varints, payload: { start, end: start + length } }
}

/** A state vector: client count, then (client, clock) pairs. */
export function walkStateVector(stateVector: Uint8Array): { varints: VarintField[]; entries: Span[] } {
  const cursor = createCursor(stateVector)
  const entries: Span[] = []
  const count = cursor.count('sv-clients')
  for (let i = 0; i < count; i++) {
    const start = cursor.position
    cursor.varint('sv-client')
    cursor.varint('sv-clock')
    entries.push({ start, end: cursor.position })
  }
  return { varints: cursor.varints, entries }
}

/** An awareness update: entry count, then (client, clock, JSON state) per entry. */
export function walkAwareness(update: Uint8Array): { varints: VarintField[]; entries: Span[] } {
  const cursor = createCursor(update)
  const entries: Span[] = []
  const count = cursor.count('awareness-clients')
  for (let i = 0; i < count; i++) {
    const start = cursor.position
    cursor.varint('awareness-client')
    cursor.varint('awareness-clock')
    cursor.lengthPrefixed('awareness-state-length')
    entries.push({ start, end: cursor.position })
  }
  return { varints: cursor.varints, entries }
}

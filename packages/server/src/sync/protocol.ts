import { isClientId, MAX_CLOCK } from '@ticks/core'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'

/**
 * The y-websocket wire format (y-protocols): a varuint message type, then for sync messages a
 * varuint sub-type and one length-prefixed payload. We decode frames ourselves, rather than call
 * `readSyncMessage`, so an update can be checked against the write rules before Yjs applies it.
 */
export const MESSAGE_SYNC = 0
export const MESSAGE_AWARENESS = 1
export const MESSAGE_QUERY_AWARENESS = 3

const SYNC_STEP_1 = 0
const SYNC_STEP_2 = 1
const SYNC_UPDATE = 2

export type IncomingMessage =
  | { type: 'sync-step-1'; stateVector: Uint8Array }
  | { type: 'sync-step-2'; update: Uint8Array }
  | { type: 'update'; update: Uint8Array }
  | { type: 'awareness'; update: Uint8Array }
  | { type: 'query-awareness' }

/** A frame that does not follow the protocol; the socket that sent it is closed with 4400. */
export class ProtocolError extends Error {}

/** Decode one client frame. Throws ProtocolError on garbage, truncation, trailing bytes or unknown types. */
export function readMessage(frame: Uint8Array): IncomingMessage {
  const decoder = decoding.createDecoder(frame)
  let message: IncomingMessage
  try {
    message = readBody(decoder)
  } catch (error) {
    if (error instanceof ProtocolError) throw error
    throw new ProtocolError('truncated or malformed frame')
  }
  if (decoding.hasContent(decoder)) throw new ProtocolError('trailing bytes after the message')
  return message
}

function readBody(decoder: decoding.Decoder): IncomingMessage {
  const type = decoding.readVarUint(decoder)
  switch (type) {
    case MESSAGE_SYNC: {
      const step = decoding.readVarUint(decoder)
      const payload = decoding.readVarUint8Array(decoder)
      if (step === SYNC_STEP_1) return { type: 'sync-step-1', stateVector: payload }
      if (step === SYNC_STEP_2) return { type: 'sync-step-2', update: payload }
      if (step === SYNC_UPDATE) return { type: 'update', update: payload }
      throw new ProtocolError(`unknown sync message type ${step}`)
    }
    case MESSAGE_AWARENESS:
      return { type: 'awareness', update: decoding.readVarUint8Array(decoder) }
    case MESSAGE_QUERY_AWARENESS:
      return { type: 'query-awareness' }
    default:
      throw new ProtocolError(`unknown message type ${type}`)
  }
}

/** Whether a frame is a sync step 2 (a reply, or a replica's whole offline outbox), without decoding it. */
export function isSyncStep2(frame: Uint8Array): boolean {
  return frame[0] === MESSAGE_SYNC && frame[1] === SYNC_STEP_2
}

export function writeSyncStep1(stateVector: Uint8Array): Uint8Array {
  return writeSync(SYNC_STEP_1, stateVector)
}

export function writeSyncStep2(update: Uint8Array): Uint8Array {
  return writeSync(SYNC_STEP_2, update)
}

export function writeUpdate(update: Uint8Array): Uint8Array {
  return writeSync(SYNC_UPDATE, update)
}

export function writeAwareness(awarenessUpdate: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MESSAGE_AWARENESS)
  encoding.writeVarUint8Array(encoder, awarenessUpdate)
  return encoding.toUint8Array(encoder)
}

function writeSync(step: number, payload: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MESSAGE_SYNC)
  encoding.writeVarUint(encoder, step)
  encoding.writeVarUint8Array(encoder, payload)
  return encoding.toUint8Array(encoder)
}

export interface AwarenessEntry {
  client: number
  clock: number
  /** The JSON-encoded state; 'null' when the client left. */
  state: string
}

/**
 * y-protocols' awareness update: a count, then client id, clock and JSON state for each. Throws
 * ProtocolError on an id or clock that lib0 would write but not read back (every peer that got it
 * relayed would throw on it, on every connect).
 */
export function readAwarenessEntries(update: Uint8Array): AwarenessEntry[] {
  const decoder = decoding.createDecoder(update)
  const entries: AwarenessEntry[] = []
  const count = decoding.readVarUint(decoder)
  for (let i = 0; i < count; i++) {
    const client = decoding.readVarUint(decoder)
    const clock = decoding.readVarUint(decoder)
    if (!isClientId(client) || !(Number.isSafeInteger(clock) && clock <= MAX_CLOCK)) {
      throw new ProtocolError('an awareness entry has an id or clock out of range')
    }
    entries.push({ client, clock, state: decoding.readVarString(decoder) })
  }
  if (decoding.hasContent(decoder)) throw new ProtocolError('trailing bytes after the awareness update')
  return entries
}

export function writeAwarenessEntries(entries: AwarenessEntry[]): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, entries.length)
  for (const { client, clock, state } of entries) {
    encoding.writeVarUint(encoder, client)
    encoding.writeVarUint(encoder, clock)
    encoding.writeVarString(encoder, state)
  }
  return encoding.toUint8Array(encoder)
}

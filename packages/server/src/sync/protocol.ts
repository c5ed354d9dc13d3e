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

/*
 * The multiplexed socket (`/sync` without an id; DESIGN section 11): many conversations on one
 * WebSocket. Every frame is the conversation id (a lib0 varString) followed by a body: either a
 * y-websocket message exactly as on `/sync/<id>`, or one of the control messages below, whose
 * types y-websocket does not use. A contract: the server README describes it for other clients.
 */
/** Client → server: start receiving a conversation (the server answers with its sync step 1). */
export const MUX_JOIN = 100
/** Client → server: stop receiving it. */
export const MUX_LEAVE = 101
/**
 * Server → client: the conversation was refused or ended on this socket, with the close code and
 * reason `/sync/<id>` would have closed with (4400, 4403, 4404, 4413, 4429, 1011, 1012, 1013). The
 * socket and its other conversations go on; frames for this one are ignored until it is joined again.
 */
export const MUX_REFUSED = 102
/**
 * Client → server, on the empty conversation id: send me my inbox — the full list now, then each
 * change as it happens (DESIGN section 11).
 */
export const MUX_INBOX_SUBSCRIBE = 110
/**
 * Server → client, on the empty conversation id: a varString of JSON, `{ type: 'full',
 * conversations: InboxEntry[] }`, `{ type: 'changed', conversation: InboxEntry }` or
 * `{ type: 'removed', id }` (see `inbox/inbox-entry.ts`).
 */
export const MUX_INBOX = 111

export type MuxBody =
  | { type: 'join' }
  | { type: 'leave' }
  | { type: 'refused'; code: number; reason: string }
  | { type: 'inbox-subscribe' }
  | { type: 'inbox'; json: string }
  /** A y-websocket message, still encoded (the room decodes it). */
  | { type: 'message'; frame: Uint8Array }

export interface MuxFrame {
  conversationId: string
  body: MuxBody
}

/** Decode a multiplexed frame's envelope. Throws ProtocolError when it has none or a bad control body. */
export function readMuxFrame(frame: Uint8Array): MuxFrame {
  const decoder = decoding.createDecoder(frame)
  let conversationId: string
  try {
    conversationId = decoding.readVarString(decoder)
  } catch {
    throw new ProtocolError('a multiplexed frame starts with its conversation id')
  }
  const frameBody = frame.subarray(decoder.pos)
  if (frameBody.byteLength === 0) throw new ProtocolError('a multiplexed frame has a body')
  const type = frameBody[0]
  if (type === MUX_JOIN || type === MUX_LEAVE || type === MUX_INBOX_SUBSCRIBE) {
    if (frameBody.byteLength !== 1) throw new ProtocolError('trailing bytes after a control message')
    const control = type === MUX_JOIN ? 'join' : type === MUX_LEAVE ? 'leave' : 'inbox-subscribe'
    return { conversationId, body: { type: control } }
  }
  if (type === MUX_INBOX) {
    const body = decoding.createDecoder(frameBody.subarray(1))
    try {
      const json = decoding.readVarString(body)
      if (decoding.hasContent(body)) throw new ProtocolError('trailing bytes after an inbox message')
      return { conversationId, body: { type: 'inbox', json } }
    } catch (error) {
      if (error instanceof ProtocolError) throw error
      throw new ProtocolError('truncated inbox message')
    }
  }
  if (type === MUX_REFUSED) {
    const body = decoding.createDecoder(frameBody.subarray(1))
    try {
      const code = decoding.readVarUint(body)
      const reason = decoding.readVarString(body)
      if (decoding.hasContent(body)) throw new ProtocolError('trailing bytes after a refusal')
      return { conversationId, body: { type: 'refused', code, reason } }
    } catch (error) {
      if (error instanceof ProtocolError) throw error
      throw new ProtocolError('truncated refusal')
    }
  }
  return { conversationId, body: { type: 'message', frame: frameBody } }
}

/** Wrap a y-websocket message for the multiplexed socket. */
export function writeMuxMessage(conversationId: string, frame: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarString(encoder, conversationId)
  encoding.writeUint8Array(encoder, frame)
  return encoding.toUint8Array(encoder)
}

export function writeMuxJoin(conversationId: string): Uint8Array {
  return writeMuxMessage(conversationId, Uint8Array.of(MUX_JOIN))
}

export function writeMuxLeave(conversationId: string): Uint8Array {
  return writeMuxMessage(conversationId, Uint8Array.of(MUX_LEAVE))
}

export function writeMuxRefused(conversationId: string, code: number, reason: string): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarString(encoder, conversationId)
  encoding.writeVarUint(encoder, MUX_REFUSED)
  encoding.writeVarUint(encoder, code)
  encoding.writeVarString(encoder, reason)
  return encoding.toUint8Array(encoder)
}

export function writeMuxInboxSubscribe(): Uint8Array {
  return writeMuxMessage('', Uint8Array.of(MUX_INBOX_SUBSCRIBE))
}

export function writeMuxInbox(json: string): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarString(encoder, '')
  encoding.writeVarUint(encoder, MUX_INBOX)
  encoding.writeVarString(encoder, json)
  return encoding.toUint8Array(encoder)
}

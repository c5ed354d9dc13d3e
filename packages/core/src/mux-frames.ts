import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'

/** A multiplexed frame that does not follow the format; the socket that sent it is closed with 4400. */
export class MuxFrameError extends Error {}

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

/** Decode a multiplexed frame's envelope. Throws MuxFrameError when it has none or a bad control body. */
export function readMuxFrame(frame: Uint8Array): MuxFrame {
  const decoder = decoding.createDecoder(frame)
  let conversationId: string
  try {
    conversationId = decoding.readVarString(decoder)
  } catch {
    throw new MuxFrameError('a multiplexed frame starts with its conversation id')
  }
  const frameBody = frame.subarray(decoder.pos)
  if (frameBody.byteLength === 0) throw new MuxFrameError('a multiplexed frame has a body')
  const type = frameBody[0]
  if (type === MUX_JOIN || type === MUX_LEAVE || type === MUX_INBOX_SUBSCRIBE) {
    if (frameBody.byteLength !== 1) throw new MuxFrameError('trailing bytes after a control message')
    const control = type === MUX_JOIN ? 'join' : type === MUX_LEAVE ? 'leave' : 'inbox-subscribe'
    return { conversationId, body: { type: control } }
  }
  if (type === MUX_INBOX) {
    const body = decoding.createDecoder(frameBody.subarray(1))
    try {
      const json = decoding.readVarString(body)
      if (decoding.hasContent(body)) throw new MuxFrameError('trailing bytes after an inbox message')
      return { conversationId, body: { type: 'inbox', json } }
    } catch (error) {
      if (error instanceof MuxFrameError) throw error
      throw new MuxFrameError('truncated inbox message')
    }
  }
  if (type === MUX_REFUSED) {
    const body = decoding.createDecoder(frameBody.subarray(1))
    try {
      const code = decoding.readVarUint(body)
      const reason = decoding.readVarString(body)
      if (decoding.hasContent(body)) throw new MuxFrameError('trailing bytes after a refusal')
      return { conversationId, body: { type: 'refused', code, reason } }
    } catch (error) {
      if (error instanceof MuxFrameError) throw error
      throw new MuxFrameError('truncated refusal')
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

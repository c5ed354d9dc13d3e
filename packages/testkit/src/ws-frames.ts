/**
 * Incremental RFC 6455 framing, just enough for a proxy to drop whole messages and keep the byte
 * stream valid. Frames are passed on as the exact bytes that arrived (masked or not): the proxy
 * never re-encodes, so what it forwards is what the peer sent.
 */

export const OPCODE_CONTINUATION = 0x0
export const OPCODE_TEXT = 0x1
export const OPCODE_BINARY = 0x2
export const OPCODE_CLOSE = 0x8

export interface RawFrame {
  /** The whole frame as received: header, mask key and payload. */
  bytes: Buffer
  fin: boolean
  opcode: number
}

/** Control frames (close, ping, pong) may interleave with a fragmented message and are never dropped. */
export const isControlFrame = (frame: RawFrame): boolean => (frame.opcode & 0x8) !== 0

/** Length of the frame at the start of `buffer`, or undefined if it has not fully arrived yet. */
export function frameLength(buffer: Buffer): number | undefined {
  if (buffer.length < 2) return undefined
  const second = buffer[1]!
  const masked = (second & 0x80) !== 0
  const shortLength = second & 0x7f
  let headerLength = 2
  let payloadLength: number
  if (shortLength === 126) {
    if (buffer.length < 4) return undefined
    payloadLength = buffer.readUInt16BE(2)
    headerLength = 4
  } else if (shortLength === 127) {
    if (buffer.length < 10) return undefined
    const big = buffer.readBigUInt64BE(2)
    if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('WebSocket frame too large')
    payloadLength = Number(big)
    headerLength = 10
  } else {
    payloadLength = shortLength
  }
  const total = headerLength + (masked ? 4 : 0) + payloadLength
  return buffer.length >= total ? total : undefined
}

/** Splits a byte stream into frames as they complete. */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0)

  push(chunk: Buffer): RawFrame[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk])
    const frames: RawFrame[] = []
    for (;;) {
      const length = frameLength(this.pending)
      if (length === undefined) break
      const bytes = this.pending.subarray(0, length)
      const first = bytes[0]!
      frames.push({ bytes, fin: (first & 0x80) !== 0, opcode: first & 0x0f })
      this.pending = this.pending.subarray(length)
    }
    return frames
  }
}

const HEADER_END = Buffer.from('\r\n\r\n')

/**
 * Collects an HTTP head (request or response) from a stream. Returns the head and whatever bytes
 * followed it once `\r\n\r\n` has arrived.
 */
export class HttpHeadReader {
  private pending: Buffer = Buffer.alloc(0)

  push(chunk: Buffer): { head: string; rest: Buffer } | undefined {
    this.pending = Buffer.concat([this.pending, chunk])
    const end = this.pending.indexOf(HEADER_END)
    if (end < 0) {
      if (this.pending.length > 64 * 1024) throw new Error('HTTP head larger than 64 KiB')
      return undefined
    }
    const head = this.pending.subarray(0, end + HEADER_END.length).toString('latin1')
    return { head, rest: this.pending.subarray(end + HEADER_END.length) }
  }
}

/**
 * Removes `Sec-WebSocket-Extensions` from an upgrade request. With permessage-deflate and context
 * takeover, each compressed frame depends on the ones before it, so dropping one would corrupt
 * every later frame; without extensions every data message stands alone and may be dropped.
 */
export function withoutExtensions(head: string): string {
  return head
    .split('\r\n')
    .filter((line) => !/^sec-websocket-extensions\s*:/i.test(line))
    .join('\r\n')
}

/** Whether an HTTP request head asks to switch to the WebSocket protocol. */
export const isWebSocketUpgrade = (head: string): boolean =>
  /^upgrade[ \t]*:[ \t]*websocket[ \t]*$/im.test(head)

/** Whether an HTTP response head switches to the WebSocket protocol. */
export const isSwitchingProtocols = (head: string): boolean => /^HTTP\/1\.[01] 101\b/.test(head)

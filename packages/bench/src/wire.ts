import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { WebSocket } from 'ws'
import * as syncProtocol from 'y-protocols/sync'
import type * as Y from 'yjs'
import { type ServerKind, tokenFor } from './servers.js'

/**
 * A lean Y.Doc client over `ws` for all three servers, so the bench measures servers, not client
 * SDKs: the y-websocket sync protocol (Ticks, @y/websocket-server), or Hocuspocus' variant of it
 * (every frame prefixed with the document name, an auth frame first). No awareness.
 */
export interface WireClient {
  doc: Y.Doc
  /** Resolves when the handshake completed (rejects when the socket closed first). */
  opened: Promise<void>
  /** Resolves when the server answered our sync step 1 (we hold everything it had then). */
  synced: Promise<void>
  bytesIn: number
  framesIn: number
  closed: { code: number; reason: string } | null
  close(): Promise<void>
}

const REMOTE = 'remote'
const SYNC = 0
const HOCUS_AUTH = 2
const HOCUS_SYNC_REPLY = 4

export function socketUrl(kind: ServerKind, base: string, room: string, userId: string): string {
  if (kind === 'ticks') return `${base}/sync/${room}?token=${tokenFor(userId)}`
  if (kind === 'yws') return `${base}/${room}`
  return base
}

export function connectWire(
  kind: ServerKind,
  base: string,
  room: string,
  userId: string,
  doc: Y.Doc,
): WireClient {
  const hocus = kind === 'hocuspocus'
  // A 1M-message document is over ws's default 100 MiB frame limit: the bench measures, not refuses.
  const socket = new WebSocket(socketUrl(kind, base, room, userId), {
    perMessageDeflate: false,
    maxPayload: 2 ** 30,
  })
  socket.binaryType = 'nodebuffer'
  const frame = (type: number, write: (encoder: encoding.Encoder) => void): Uint8Array => {
    const encoder = encoding.createEncoder()
    if (hocus) encoding.writeVarString(encoder, room)
    encoding.writeVarUint(encoder, type)
    write(encoder)
    return encoding.toUint8Array(encoder)
  }
  const queue: Uint8Array[] = []
  const send = (data: Uint8Array) => {
    if (socket.readyState === WebSocket.OPEN) socket.send(data)
    else if (socket.readyState === WebSocket.CONNECTING) queue.push(data)
  }
  let resolveSynced!: () => void
  let rejectSynced!: (error: Error) => void
  let resolveOpened!: () => void
  let rejectOpened!: (error: Error) => void
  const client: WireClient = {
    doc,
    opened: new Promise<void>((resolve, reject) => {
      resolveOpened = resolve
      rejectOpened = reject
    }),
    synced: new Promise<void>((resolve, reject) => {
      resolveSynced = resolve
      rejectSynced = reject
    }),
    bytesIn: 0,
    framesIn: 0,
    closed: null,
    close: () =>
      new Promise<void>((resolve) => {
        doc.off('update', onUpdate)
        if (socket.readyState === WebSocket.CLOSED) return resolve()
        socket.once('close', () => resolve())
        socket.close()
        setTimeout(() => {
          socket.terminate()
          resolve()
        }, 2000).unref()
      }),
  }
  client.synced.catch(() => {})
  client.opened.catch(() => {})

  const onUpdate = (update: Uint8Array, origin: unknown) => {
    if (origin === REMOTE) return
    send(frame(SYNC, (encoder) => syncProtocol.writeUpdate(encoder, update)))
  }
  doc.on('update', onUpdate)

  socket.on('open', () => {
    resolveOpened()
    if (hocus) {
      socket.send(
        frame(HOCUS_AUTH, (encoder) => {
          encoding.writeVarUint(encoder, 0) // AuthMessageType.Token
          encoding.writeVarString(encoder, 'bench')
        }),
      )
    }
    socket.send(frame(SYNC, (encoder) => syncProtocol.writeSyncStep1(encoder, doc)))
    for (const data of queue.splice(0)) socket.send(data)
  })
  socket.on('message', (data: Buffer) => {
    client.bytesIn += data.byteLength
    client.framesIn++
    const decoder = decoding.createDecoder(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
    if (hocus) decoding.readVarString(decoder)
    const type = decoding.readVarUint(decoder)
    if (type !== SYNC && type !== HOCUS_SYNC_REPLY) return
    const reply = encoding.createEncoder()
    if (hocus) encoding.writeVarString(reply, room)
    encoding.writeVarUint(reply, hocus ? HOCUS_SYNC_REPLY : SYNC)
    const before = encoding.length(reply)
    const kindOfMessage = syncProtocol.readSyncMessage(decoder, reply, doc, REMOTE)
    if (encoding.length(reply) > before) send(encoding.toUint8Array(reply))
    if (kindOfMessage === syncProtocol.messageYjsSyncStep2) resolveSynced()
  })
  socket.on('close', (code, reason) => {
    client.closed = { code, reason: reason.toString() }
    rejectOpened(new Error(`socket closed ${code} ${reason.toString()}`))
    rejectSynced(new Error(`socket closed ${code} ${reason.toString()}`))
  })
  socket.on('error', () => {})
  return client
}

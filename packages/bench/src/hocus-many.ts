import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { WebSocket } from 'ws'
import * as syncProtocol from 'y-protocols/sync'
import * as Y from 'yjs'

/**
 * A lean Hocuspocus client holding many documents over one socket, as Hocuspocus' own
 * `HocuspocusProviderWebsocket` does when providers share it: every frame starts with the
 * document's name, each document authenticates and syncs on its own. Hocuspocus has no inbox, so
 * to draw a list of conversations a client must sync every one of them: that is what this does.
 */
export interface ManyDocsClient {
  docs: Map<string, Y.Doc>
  /** Resolves when every document's sync step 1 was answered. */
  synced: Promise<void>
  closed: { code: number; reason: string } | null
  close(): Promise<void>
}

const REMOTE = 'remote'
const SYNC = 0
const AUTH = 2
const SYNC_REPLY = 4

export function connectHocuspocusMany(base: string, names: readonly string[]): ManyDocsClient {
  const socket = new WebSocket(base, { perMessageDeflate: false })
  const docs = new Map(names.map((name) => [name, new Y.Doc({ guid: name })] as const))
  const waiting = new Set(names)
  const frame = (name: string, type: number, write: (encoder: encoding.Encoder) => void) => {
    const encoder = encoding.createEncoder()
    encoding.writeVarString(encoder, name)
    encoding.writeVarUint(encoder, type)
    write(encoder)
    return encoding.toUint8Array(encoder)
  }
  let resolveSynced!: () => void
  let rejectSynced!: (error: Error) => void
  const client: ManyDocsClient = {
    docs,
    synced: new Promise<void>((resolve, reject) => {
      resolveSynced = resolve
      rejectSynced = reject
    }),
    closed: null,
    close: () =>
      new Promise<void>((resolve) => {
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

  for (const [name, doc] of docs) {
    doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin === REMOTE || socket.readyState !== WebSocket.OPEN) return
      socket.send(frame(name, SYNC, (encoder) => syncProtocol.writeUpdate(encoder, update)))
    })
  }
  socket.on('open', () => {
    for (const [name, doc] of docs) {
      socket.send(
        frame(name, AUTH, (encoder) => {
          encoding.writeVarUint(encoder, 0) // AuthMessageType.Token
          encoding.writeVarString(encoder, 'bench')
        }),
      )
      socket.send(frame(name, SYNC, (encoder) => syncProtocol.writeSyncStep1(encoder, doc)))
    }
  })
  socket.on('message', (data: Buffer) => {
    const decoder = decoding.createDecoder(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
    const name = decoding.readVarString(decoder)
    const type = decoding.readVarUint(decoder)
    const doc = docs.get(name)
    if (!doc || (type !== SYNC && type !== SYNC_REPLY)) return
    const reply = encoding.createEncoder()
    encoding.writeVarString(reply, name)
    encoding.writeVarUint(reply, SYNC_REPLY)
    const before = encoding.length(reply)
    const kind = syncProtocol.readSyncMessage(decoder, reply, doc, REMOTE)
    if (encoding.length(reply) > before) socket.send(encoding.toUint8Array(reply))
    if (kind === syncProtocol.messageYjsSyncStep2 && waiting.delete(name) && waiting.size === 0)
      resolveSynced()
  })
  socket.on('close', (code, reason) => {
    client.closed = { code, reason: reason.toString() }
    rejectSynced(new Error(`socket closed ${code} ${reason.toString()}`))
  })
  socket.on('error', () => {})
  return client
}

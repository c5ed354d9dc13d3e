import { once } from 'node:events'
import {
  Conversation,
  initConversation,
  newConversationDoc,
  readMuxFrame,
  writeMuxMessage,
} from '@ticks/core'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { type WebSocket as ServerSocket, WebSocketServer } from 'ws'
import * as syncProtocol from 'y-protocols/sync'
import * as Y from 'yjs'

/** A whole y-websocket sync frame: message type 0, then the sync step and its payload. */
export function syncFrame(step: number, payload: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 0)
  encoding.writeVarUint(encoder, step)
  encoding.writeVarUint8Array(encoder, payload)
  return encoding.toUint8Array(encoder)
}

/** A whole y-websocket awareness frame (message type 1) around `update`. */
export function awarenessFrame(update: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 1)
  encoding.writeVarUint8Array(encoder, update)
  return encoding.toUint8Array(encoder)
}

/** A Yjs update (v1) holding one GC struct of `length` clocks from clock 0 of `client`. */
export function gcUpdate(client: number, length: number): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 1) // clients
  encoding.writeVarUint(encoder, 1) // structs of this client
  encoding.writeVarUint(encoder, client)
  encoding.writeVarUint(encoder, 0) // first clock
  encoding.writeUint8(encoder, 0) // info: GC
  encoding.writeVarUint(encoder, length)
  encoding.writeVarUint(encoder, 0) // empty delete set
  return encoding.toUint8Array(encoder)
}

/** A conversation of alice (owner) and bob, with one message of bob's: what an honest server holds. */
export function honestConversation(id: string): { doc: Y.Doc; bobSaid: string } {
  const doc = newConversationDoc(id)
  initConversation(doc, { title: 'honest', members: { alice: 'owner', bob: 'member' } })
  const bob = new Conversation(doc, { userId: 'bob' })
  const bobSaid = bob.send('hello from bob before the poison').id
  bob.destroy()
  return { doc, bobSaid }
}

/**
 * A server that speaks y-websocket but is not to be trusted, on 127.0.0.1. It answers a client's
 * sync step 1 with `answer(stateVector)` (by default the honest document's sync step 2), ignores
 * everything else, and sends whatever frame a test hands to `sendAll`.
 */
export async function startHostileServer(honest: Y.Doc) {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' })
  await once(server, 'listening')
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  const sockets = new Set<ServerSocket>()
  /** Shared sockets: the conversation each joined (a hostile server sends its poison there). */
  const joined = new Map<ServerSocket, string>()
  let connections = 0
  const control = {
    url: `ws://127.0.0.1:${port}`,
    answer: (stateVector: Uint8Array): Uint8Array[] => [
      syncFrame(syncProtocol.messageYjsSyncStep2, Y.encodeStateAsUpdate(honest, stateVector)),
    ],
    /** Sockets accepted so far (a client that kept retrying would show here). */
    connections: () => connections,
    openSockets: () => sockets.size,
    sendAll(frame: Uint8Array) {
      for (const socket of sockets) {
        const conversationId = joined.get(socket)
        socket.send(conversationId === undefined ? frame : writeMuxMessage(conversationId, frame))
      }
    },
    async close() {
      for (const socket of sockets) socket.terminate()
      await new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      )
    },
  }
  server.on('connection', (socket, request) => {
    connections++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    // `/sync` without an id is the shared socket: every frame carries its conversation's id.
    const multiplexed = new URL(request.url ?? '/', 'ws://x').pathname === '/sync'
    socket.on('message', (data) => {
      let bytes: Uint8Array = new Uint8Array(data as Buffer)
      let wrap = (frame: Uint8Array) => frame
      if (multiplexed) {
        const { conversationId, body } = readMuxFrame(bytes)
        joined.set(socket, conversationId)
        if (body.type !== 'message') return
        bytes = body.frame
        wrap = (frame) => writeMuxMessage(conversationId, frame)
      }
      const decoder = decoding.createDecoder(bytes)
      if (decoding.readVarUint(decoder) !== 0) return
      if (decoding.readVarUint(decoder) !== syncProtocol.messageYjsSyncStep1) return
      for (const frame of control.answer(decoding.readVarUint8Array(decoder))) socket.send(wrap(frame))
    })
  })
  return control
}

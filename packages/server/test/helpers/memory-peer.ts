import { Conversation } from '@ticks/core'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import * as syncProtocol from 'y-protocols/sync'
import * as Y from 'yjs'
import type { Connection, Room } from '../../src/index.js'
import { pollUntil } from './until.js'

/** A replica linked to a room in memory, speaking the y-websocket sync protocol like a real client. */
export interface MemoryPeer {
  doc: Y.Doc
  conversation: Conversation
  connection: Connection
  closed: { code: number; reason: string } | null
  /** Raw frames the room sent to this peer. */
  frames: Uint8Array[]
}

export function connectMemoryPeer(
  room: Room,
  userId: string,
  doc = new Y.Doc({ guid: room.id }),
): MemoryPeer {
  const peer: MemoryPeer = {
    doc,
    conversation: new Conversation(doc, { userId, replicaId: `${userId}-replica` }),
    connection: undefined!,
    closed: null,
    frames: [],
  }
  peer.connection = room.connect({
    userId,
    send(frame) {
      peer.frames.push(frame)
      const decoder = decoding.createDecoder(frame)
      if (decoding.readVarUint(decoder) !== 0) return
      const encoder = encoding.createEncoder()
      encoding.writeVarUint(encoder, 0)
      syncProtocol.readSyncMessage(decoder, encoder, doc, 'room')
      if (encoding.length(encoder) > 1)
        queueMicrotask(() => peer.connection.receive(encoding.toUint8Array(encoder)))
    },
    close(code, reason) {
      peer.closed = { code, reason }
    },
  })
  doc.on('update', (update: Uint8Array, origin: unknown) => {
    if (origin === 'room' || peer.closed) return
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, 0)
    syncProtocol.writeUpdate(encoder, update)
    peer.connection.receive(encoding.toUint8Array(encoder))
  })
  // Like y-websocket: announce our state vector so the room answers with what we lack.
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 0)
  syncProtocol.writeSyncStep1(encoder, doc)
  peer.connection.receive(encoding.toUint8Array(encoder))
  return peer
}

export const until = (
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 3000,
  what = 'a condition',
): Promise<void> => pollUntil(condition, timeoutMs, what, 5)

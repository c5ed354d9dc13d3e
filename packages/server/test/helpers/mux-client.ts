import {
  Conversation,
  readMuxFrame,
  writeMuxInboxSubscribe,
  writeMuxJoin,
  writeMuxLeave,
  writeMuxMessage,
} from '@ticks/core'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { WebSocket } from 'ws'
import * as syncProtocol from 'y-protocols/sync'
import * as Y from 'yjs'
import type { InboxEntry } from '../../src/inbox/inbox-entry.js'
import type { InboxMessage } from '../../src/inbox/inbox-feed.js'
import { type TestServer, tokenFor } from './server.js'

/** One conversation on a multiplexed socket, as a client keeps it. */
export interface MuxReplica {
  doc: Y.Doc
  conversation: Conversation
  /** Refusal frames the server sent for this conversation. */
  refusals: { code: number; reason: string }[]
  /** Frames (y-websocket messages) the server sent for it. */
  frames: number
}

/**
 * A minimal client of `/sync` (the multiplexed socket), written from the frame format in the
 * server README: one WebSocket, a Y.Doc per joined conversation synced with y-protocols.
 */
export interface MuxClient {
  socket: WebSocket
  closed: Promise<{ code: number; reason: string }>
  replicas: Map<string, MuxReplica>
  /** The inbox as the feed built it (after `subscribeInbox`), and every feed message in order. */
  inbox: Map<string, InboxEntry>
  inboxMessages: InboxMessage[]
  subscribeInbox(): void
  join(conversationId: string, doc?: Y.Doc): MuxReplica
  leave(conversationId: string): void
  /** Send raw bytes on the socket (malformed frames, in tests). */
  raw(frame: Uint8Array): void
  close(): void
}

/** `token`: another token than `userId`'s own (an admin's, a bad one). */
export async function muxClient(server: TestServer, userId: string, token?: string): Promise<MuxClient> {
  const socket = new WebSocket(`${server.wsUrl}/sync?token=${token ?? (await tokenFor(userId))}`)
  socket.binaryType = 'nodebuffer'
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  )
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve())
    socket.once('error', reject)
  })
  const replicas = new Map<string, MuxReplica>()
  const inbox = new Map<string, InboxEntry>()
  const inboxMessages: InboxMessage[] = []
  const sendFor = (conversationId: string, frame: Uint8Array) => {
    if (socket.readyState === socket.OPEN) socket.send(writeMuxMessage(conversationId, frame))
  }
  socket.on('message', (data: Buffer) => {
    const { conversationId, body } = readMuxFrame(new Uint8Array(data))
    if (body.type === 'inbox') {
      const message = JSON.parse(body.json) as InboxMessage
      inboxMessages.push(message)
      if (message.type === 'full') {
        inbox.clear()
        for (const entry of message.conversations) inbox.set(entry.id, entry)
      } else if (message.type === 'changed') inbox.set(message.conversation.id, message.conversation)
      else inbox.delete(message.id)
      return
    }
    const replica = replicas.get(conversationId)
    if (!replica) return
    if (body.type === 'refused') {
      replica.refusals.push({ code: body.code, reason: body.reason })
      return
    }
    if (body.type !== 'message') return
    replica.frames++
    const decoder = decoding.createDecoder(body.frame)
    if (decoding.readVarUint(decoder) !== 0) return // awareness: not used here
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, 0)
    syncProtocol.readSyncMessage(decoder, encoder, replica.doc, 'server')
    if (encoding.length(encoder) > 1) sendFor(conversationId, encoding.toUint8Array(encoder))
  })
  return {
    socket,
    closed,
    replicas,
    inbox,
    inboxMessages,
    subscribeInbox() {
      socket.send(writeMuxInboxSubscribe())
    },
    join(conversationId, doc = new Y.Doc({ guid: conversationId })) {
      const replica: MuxReplica = {
        doc,
        conversation: new Conversation(doc, { userId, replicaId: `${userId}-mux` }),
        refusals: [],
        frames: 0,
      }
      replicas.set(conversationId, replica)
      doc.on('update', (update: Uint8Array, origin: unknown) => {
        if (origin === 'server') return
        const encoder = encoding.createEncoder()
        encoding.writeVarUint(encoder, 0)
        syncProtocol.writeUpdate(encoder, update)
        sendFor(conversationId, encoding.toUint8Array(encoder))
      })
      socket.send(writeMuxJoin(conversationId))
      const encoder = encoding.createEncoder()
      encoding.writeVarUint(encoder, 0)
      syncProtocol.writeSyncStep1(encoder, doc)
      sendFor(conversationId, encoding.toUint8Array(encoder))
      return replica
    },
    leave(conversationId) {
      socket.send(writeMuxLeave(conversationId))
    },
    raw(frame) {
      socket.send(frame)
    },
    close() {
      socket.close()
      for (const replica of replicas.values()) replica.conversation.destroy()
    },
  }
}

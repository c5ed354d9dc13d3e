import { Conversation, type Message } from '@ticks/core'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import * as syncProtocol from 'y-protocols/sync'
import * as Y from 'yjs'

const MESSAGE_SYNC = 0

/** A replica's view of its link to the server, provided by the network. */
export interface ReplicaTransport {
  send(frame: Uint8Array): void
}

/**
 * One user's device: a Y.Doc with a core `Conversation` over it, and the client half of the
 * y-websocket sync protocol (what `WebsocketProvider` does, minus the socket). While offline it
 * keeps working locally; on (re)connect the sync handshake exchanges whatever either side lacks.
 */
export class Replica {
  readonly name: string
  readonly doc: Y.Doc
  readonly conversation: Conversation
  /** Closes and reasons the server gave this replica, newest last. */
  readonly closes: { time: number; code: number; reason: string }[] = []
  private transport: ReplicaTransport | undefined
  /** Origin of updates that came from the server, so they are not echoed back. */
  private readonly remoteOrigin = Symbol('from-server')

  constructor(
    readonly userId: string,
    readonly deviceId: string,
    conversationId: string,
    clientId: number,
    now: () => number,
    /** Called after a frame from the server was integrated (the network's auto-delivery hook). */
    private readonly afterReceive: (replica: Replica) => void,
  ) {
    this.name = `${userId}@${deviceId}`
    this.doc = new Y.Doc({ guid: conversationId })
    // A seeded client id: Yjs breaks ties by it, so a random one would make runs differ.
    this.doc.clientID = clientId
    this.conversation = new Conversation(this.doc, { userId, replicaId: deviceId, now })
    this.doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin !== this.remoteOrigin && this.transport) this.transport.send(writeSync(update))
    })
  }

  get online(): boolean {
    return this.transport !== undefined
  }

  /** Write a message; `pending` until the server stamps it. */
  send(text: string): Message {
    return this.conversation.send(text)
  }

  markDelivered(): boolean {
    return this.conversation.markDelivered()
  }

  markRead(upToMessageId?: string): boolean {
    return this.conversation.markRead(upToMessageId)
  }

  messages(): Message[] {
    return this.conversation.messages()
  }

  /** True when the document waits for structs it has not received (a frame was lost). */
  get hasGaps(): boolean {
    return this.doc.store.pendingStructs !== null || this.doc.store.pendingDs !== null
  }

  /** Called by the network when a connection is up: start the sync handshake. */
  attach(transport: ReplicaTransport): void {
    this.transport = transport
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, MESSAGE_SYNC)
    syncProtocol.writeSyncStep1(encoder, this.doc)
    transport.send(encoding.toUint8Array(encoder))
  }

  detach(): void {
    this.transport = undefined
  }

  /** A frame from the server. Awareness and anything else but sync is ignored. */
  receive(frame: Uint8Array): void {
    if (!this.transport) return
    const decoder = decoding.createDecoder(frame)
    if (decoding.readVarUint(decoder) !== MESSAGE_SYNC) return
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, MESSAGE_SYNC)
    syncProtocol.readSyncMessage(decoder, encoder, this.doc, this.remoteOrigin)
    // Only a sync step 1 produces a reply (our step 2); the header alone is one byte.
    if (encoding.length(encoder) > 1) this.transport.send(encoding.toUint8Array(encoder))
    this.afterReceive(this)
  }

  destroy(): void {
    this.conversation.destroy()
    this.doc.destroy()
  }
}

function writeSync(update: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MESSAGE_SYNC)
  syncProtocol.writeUpdate(encoder, update)
  return encoding.toUint8Array(encoder)
}

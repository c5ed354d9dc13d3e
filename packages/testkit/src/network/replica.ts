import { Conversation, type Message } from '@ticks/core'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import * as syncProtocol from 'y-protocols/sync'
import * as Y from 'yjs'
import { failUnsent, retriesOnceDiscarded, type ServerClose, stopsReconnecting } from './close-policy.js'

const MESSAGE_SYNC = 0

/** A replica's view of its link to the server, provided by the network. */
export interface ReplicaTransport {
  send(frame: Uint8Array): void
}

/** What the network gives a replica it creates. */
export interface ReplicaSetup {
  conversationId: string
  /** Seeded: Yjs breaks ties by client id, so a random one would make runs differ. */
  clientId: number
  /** Seeded too: the client id the replica writes its receipts with. */
  receiptClientId: number
  /** Clock for `createdAt`. */
  now: () => number
  /** Seeded message ids, for the same reason. */
  newId: () => string
  /** Called after a frame from the server was integrated (the network's auto-delivery hook). */
  afterReceive(replica: Replica): void
  /** Connect now if the server is reachable and the replica is offline. */
  connect(replica: Replica): void
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
  readonly closes: ServerClose[] = []
  private transport: ReplicaTransport | undefined
  /** Origin of updates that came from the server, so they are not echoed back. */
  private readonly remoteOrigin = Symbol('from-server')
  private stop: ServerClose | undefined
  private hadFailures = false

  constructor(
    readonly userId: string,
    readonly deviceId: string,
    private readonly setup: ReplicaSetup,
  ) {
    this.name = `${userId}@${deviceId}`
    this.doc = new Y.Doc({ guid: setup.conversationId })
    this.doc.clientID = setup.clientId
    this.conversation = new Conversation(this.doc, {
      userId,
      replicaId: deviceId,
      now: setup.now,
      newId: setup.newId,
      receiptClientId: setup.receiptClientId,
    })
    this.doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin !== this.remoteOrigin && this.transport) this.transport.send(writeSync(update))
    })
    this.conversation.onChange(() => this.retryIfFailuresDiscarded())
  }

  get online(): boolean {
    return this.transport !== undefined
  }

  /**
   * Why the replica stopped reconnecting: a close after which `@ticks/client` gives up (4400, 4401,
   * 4403, 4404, 4413). Cleared by `reconnect()` and `network.heal()`.
   */
  get stopped(): ServerClose | undefined {
    return this.stop
  }

  /** Forget any refusal and connect now if the server is reachable (`LiveConversation.reconnect()`). */
  reconnect(): void {
    this.stop = undefined
    this.setup.connect(this)
  }

  /**
   * Called by the network when the server closed this replica's connection. Returns whether the
   * replica reconnects by itself.
   */
  serverClosed(close: ServerClose): boolean {
    this.closes.push(close)
    failUnsent(this.conversation, close.code, close.reason)
    if (!stopsReconnecting(close.code)) return true
    this.stop = close
    return false
  }

  /** Called by the network's `heal()`: the test changed the world, so a refusal gets another try. */
  clearStop(): void {
    this.stop = undefined
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
    this.setup.afterReceive(this)
  }

  private retryIfFailuresDiscarded(): void {
    const hasFailures = this.conversation.messages().some((message) => message.status === 'failed')
    const discarded = this.hadFailures && !hasFailures
    this.hadFailures = hasFailures
    if (discarded && this.stop && retriesOnceDiscarded(this.stop.code)) this.reconnect()
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

import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as syncProtocol from 'y-protocols/sync'
import type * as Y from 'yjs'
import {
  type ConnectionOptions,
  type ConnectionState,
  type ConnectionStop,
  defaultReason,
  INVALID_PAYLOAD_CODE,
  REFUSAL_CLOSE_CODES,
  TERMINAL_CLOSE_CODES,
} from './connection.js'
import { awarenessProblem, syncMessageProblem } from './guarded-sync.js'
import { RetryTimer } from './retry-timer.js'
import type { SharedSocket, SocketChannel } from './shared-socket.js'

const MESSAGE_SYNC = 0
const MESSAGE_AWARENESS = 1
const MESSAGE_QUERY_AWARENESS = 3
const RATE_LIMITED = 4429
const TOO_LARGE = 4413

export interface SharedConnectionSetup {
  socket: SharedSocket
  conversationId: string
  doc: Y.Doc
  awareness: awarenessProtocol.Awareness
  options: ConnectionOptions
  /** Called before the state changes when the server refuses this replica's writes. */
  onRefused(stop: ConnectionStop): void
}

/**
 * One conversation on the client's shared socket: the same face as `Connection` (states, stops,
 * retries), with the y-websocket sync and awareness protocol spoken here over the multiplexed
 * frames. A refusal ends this conversation only; what would close a `/sync/<id>` socket for a
 * while (1011, 1012, 1013, 4429) makes it join again after a jittered back-off, and a closed socket
 * makes it join again as soon as the socket is back. Updates from the server are checked whole
 * before Yjs sees them, as guarded-sync.ts does for the per-conversation socket. Tabs meet through
 * the server (there is no tab-to-tab channel on this transport).
 */
export class SharedConnection implements SocketChannel {
  private currentState: ConnectionState = 'offline'
  private stopReason: ConnectionStop | undefined
  private started = false
  private wanted = false
  private joined = false
  /**
   * Whether the server answered the current join. It answers one at once with its sync step 1 (a
   * small frame, ahead of any large reply) or a refusal; until then, nothing of this conversation
   * is on its way, and the join (or its answer) may have been lost.
   */
  private joinAnswered = false
  private closedForGood = false
  private readonly retry: RetryTimer
  private syncAskedAt = 0
  private readonly resyncTimer: ReturnType<typeof setInterval> | undefined
  private readonly listeners = new Set<(state: ConnectionState) => void>()
  private readonly socket: SharedSocket
  private readonly id: string
  private readonly doc: Y.Doc
  private readonly awareness: awarenessProtocol.Awareness

  constructor(private readonly setup: SharedConnectionSetup) {
    this.socket = setup.socket
    this.id = setup.conversationId
    this.doc = setup.doc
    this.awareness = setup.awareness
    this.retry = new RetryTimer(setup.options)
    this.doc.on('update', this.onDocUpdate)
    this.awareness.on('update', this.onAwarenessUpdate)
    this.resyncTimer =
      setup.options.resyncIntervalMs > 0
        ? setInterval(() => this.resync(), setup.options.resyncIntervalMs)
        : undefined
  }

  get state(): ConnectionState {
    return this.currentState
  }

  get stopped(): ConnectionStop | undefined {
    return this.stopReason ?? this.socket.stopped
  }

  get receivingFirstSync(): boolean {
    return this.currentState === 'syncing' && this.joinAnswered
  }

  get isStarted(): boolean {
    return this.started
  }

  onChange(listener: (state: ConnectionState) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  reconnect(): void {
    if (this.closedForGood) return
    this.started = true
    this.wanted = true
    this.retry.cancel()
    this.retry.reset()
    const wasStopped = this.stopped !== undefined
    this.stopReason = undefined
    if (this.joined) {
      this.socket.leave(this.id)
      this.joined = false
    }
    this.socket.attach(this.id, this)
    this.socket.tryNow()
    if (wasStopped) this.emit()
    if (this.socket.isOpen) this.join()
    else this.setState('connecting')
  }

  skipBackoff(): void {
    if (this.closedForGood || this.stopped !== undefined) return
    this.socket.skipBackoff()
    if (this.retry.skip() && this.socket.isOpen) this.join()
  }

  disconnect(): void {
    this.wanted = false
    this.retry.cancel()
    if (this.joined) this.socket.leave(this.id)
    this.joined = false
    this.forgetPresence()
    this.socket.detach(this.id)
    this.setState('offline')
  }

  setToken(token: string): void {
    this.socket.setToken(token)
  }

  close(): void {
    if (this.closedForGood) return
    this.disconnect()
    this.closedForGood = true
    if (this.resyncTimer) clearInterval(this.resyncTimer)
    this.doc.off('update', this.onDocUpdate)
    this.awareness.off('update', this.onAwarenessUpdate)
    this.listeners.clear()
  }

  // --- what the socket says -------------------------------------------------------------------

  opened(): void {
    if (this.wanted && !this.stopReason && !this.retry.waiting) this.join()
  }

  closed(): void {
    // Offline until the socket is back (it retries by itself), as a `/sync/<id>` socket would be.
    this.joined = false
    this.forgetPresence()
    this.setState('offline')
  }

  gaveUp(): void {
    this.joined = false
    this.forgetPresence()
    this.setState('offline')
    this.emit() // `stopped` now says why (the socket's stop)
  }

  refused(code: number, reason: string): void {
    this.joined = false
    this.forgetPresence()
    if (REFUSAL_CLOSE_CODES.has(code) || TERMINAL_CLOSE_CODES.has(code)) {
      const stop = { code, reason: reason || defaultReason(code) }
      if (REFUSAL_CLOSE_CODES.has(code)) this.setup.onRefused(stop)
      this.stopReason = stop
      this.setState('offline')
      this.emit()
      return
    }
    this.setState('connecting')
    this.retry.schedule(() => {
      if (this.wanted && !this.stopReason && this.socket.isOpen) this.join()
    }, code === RATE_LIMITED)
  }

  message(frame: Uint8Array): void {
    if (!this.joined) return
    this.joinAnswered = true
    const decoder = decoding.createDecoder(frame)
    const type = decoding.readVarUint(decoder)
    if (type === MESSAGE_SYNC) {
      this.receiveSync(decoder)
      return
    }
    if (type === MESSAGE_AWARENESS) {
      if (awarenessProblem(decoding.clone(decoder)) !== undefined) return
      awarenessProtocol.applyAwarenessUpdate(this.awareness, decoding.readVarUint8Array(decoder), this)
      return
    }
    if (type === MESSAGE_QUERY_AWARENESS) this.sendAwareness([...this.awareness.getStates().keys()])
  }

  // --- the protocol -----------------------------------------------------------------------------

  private join(): void {
    if (this.joined || !this.socket.isOpen) return
    this.joined = true
    this.joinAnswered = false
    this.socket.join(this.id)
    this.syncAskedAt = Date.now()
    this.sendSyncStep1()
    if (this.awareness.getLocalState() !== null) this.sendAwareness([this.doc.clientID])
    this.setState('syncing')
  }

  private receiveSync(decoder: decoding.Decoder): void {
    const problem = syncMessageProblem(decoding.clone(decoder))
    if (problem !== undefined) {
      this.refuseIncoming(problem)
      return
    }
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, MESSAGE_SYNC)
    const kind = syncProtocol.readSyncMessage(decoder, encoder, this.doc, this)
    if (encoding.length(encoder) > 1) this.send(encoding.toUint8Array(encoder))
    if (kind === syncProtocol.messageYjsSyncStep2 && this.currentState === 'syncing') {
      this.retry.reset()
      this.setState('synced')
    }
  }

  /**
   * The server sent an update this replica cannot store: it was not applied. Stop rather than
   * rejoin (it would come again); unsent messages stay pending (see `Connection.refuseIncoming`).
   */
  private refuseIncoming(problem: string): void {
    this.retry.cancel()
    this.stopReason = { code: INVALID_PAYLOAD_CODE, reason: `the server sent ${problem}` }
    if (this.joined) this.socket.leave(this.id)
    this.joined = false
    this.setState('offline')
    this.emit()
  }

  private readonly onDocUpdate = (update: Uint8Array, origin: unknown): void => {
    if (origin === this || !this.joined) return
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, MESSAGE_SYNC)
    syncProtocol.writeUpdate(encoder, update)
    this.send(encoding.toUint8Array(encoder))
  }

  private readonly onAwarenessUpdate = (
    { added, updated, removed }: { added: number[]; updated: number[]; removed: number[] },
    origin: unknown,
  ): void => {
    if (origin === this || !this.joined) return
    this.sendAwareness([...added, ...updated, ...removed])
  }

  /** Others' presence is only known while joined: shown after, it would say they are here. */
  private forgetPresence(): void {
    const others = [...this.awareness.getStates().keys()].filter((client) => client !== this.doc.clientID)
    if (others.length > 0) awarenessProtocol.removeAwarenessStates(this.awareness, others, this)
  }

  /** Send one y-websocket message for this conversation, unless it is too large for the socket. */
  private send(frame: Uint8Array): void {
    const limit = this.setup.options.maxSharedFrameBytes
    if (frame.byteLength > limit) {
      if (this.joined) this.socket.leave(this.id)
      this.refused(TOO_LARGE, `an update of ${frame.byteLength} bytes exceeds ${limit} bytes`)
      return
    }
    this.socket.send(this.id, frame)
  }

  private sendAwareness(clients: number[]): void {
    if (clients.length === 0) return
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, MESSAGE_AWARENESS)
    encoding.writeVarUint8Array(encoder, awarenessProtocol.encodeAwarenessUpdate(this.awareness, clients))
    this.send(encoding.toUint8Array(encoder))
  }

  private sendSyncStep1(): void {
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, MESSAGE_SYNC)
    syncProtocol.writeSyncStep1(encoder, this.doc)
    this.send(encoding.toUint8Array(encoder))
  }

  /**
   * As `Connection.resync`: repairs what a lost frame left out, and repeats an unanswered first
   * ask. Unlike `/sync/<id>`, where the server speaks first on every socket, here a lost join
   * leaves the server silent about this conversation, and the socket may be silent otherwise too:
   * an unanswered join is repeated without waiting for other traffic to show the link alive.
   */
  private resync(): void {
    if (!this.joined || !this.socket.isOpen) return
    if (this.currentState === 'syncing') {
      if (Date.now() - this.syncAskedAt < this.setup.options.resyncIntervalMs) return
      // Answered, the reply may be a large frame still in transit: ask again only once other
      // messages show it was lost (asking again would queue a second copy behind it).
      if (this.joinAnswered && this.socket.lastMessageAt <= this.syncAskedAt) return
      this.syncAskedAt = Date.now()
    } else if (this.currentState !== 'synced') return
    // The join again first: a lost join (or a lost refusal) leaves the server ignoring every frame
    // of this conversation, so the ask alone would go unanswered forever. A repeated join changes
    // nothing on the server; a conversation it ended is refused again, and this replica learns why.
    this.socket.join(this.id)
    this.sendSyncStep1()
  }

  private setState(state: ConnectionState): void {
    if (this.currentState === state) return
    this.currentState = state
    this.emit()
  }

  private emit(): void {
    for (const listener of this.listeners) listener(this.currentState)
  }
}

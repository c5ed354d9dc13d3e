import { REFUSAL_CLOSE_CODES } from '@ticks/core'
import * as encoding from 'lib0/encoding'
import type { Awareness } from 'y-protocols/awareness'
import * as syncProtocol from 'y-protocols/sync'
import { messageSync, WebsocketProvider } from 'y-websocket'
import type * as Y from 'yjs'
import { type FrameSource, guardIncomingFrames } from './guarded-sync.js'
import { RetryTimer } from './retry-timer.js'

export type ConnectionState = 'offline' | 'connecting' | 'syncing' | 'synced'

/** Why the connection stopped retrying; cleared by `reconnect()`. */
export interface ConnectionStop {
  code: number
  reason: string
}

export interface ConnectionOptions {
  /** First reconnect delay (before jitter). */
  backoffBaseMs: number
  /** Longest reconnect delay. */
  maxBackoffMs: number
  /** Period of the state-vector resync that repairs frames a socket lost. 0 disables it. */
  resyncIntervalMs: number
  /** A synced socket that has heard nothing for this long is presumed half-open and replaced. */
  silenceTimeoutMs: number
  /** Before the first sync completes, how long a silent socket may stay (a big sync is one frame). */
  firstSyncTimeoutMs: number
  /**
   * How long a socket may stay in CONNECTING: a peer that accepts TCP and never answers the
   * upgrade (a black-holed proxy, a frozen server) would otherwise hold it there for the OS's own
   * timeout, minutes, with no retry. Past it the attempt is closed and retried with the back-off.
   */
  connectTimeoutMs: number
  /** Relay updates between tabs of this browser through a BroadcastChannel scoped by user. */
  crossTab: boolean
  /**
   * The largest frame a conversation sends on the shared socket (the server's default sync-frame
   * limit). A larger one would make the server close the socket every conversation shares, again
   * on every reconnect; it is refused here instead, as the server would (4413).
   */
  maxSharedFrameBytes: number
}

export const DEFAULT_CONNECTION_OPTIONS: ConnectionOptions = {
  backoffBaseMs: 250,
  maxBackoffMs: 10_000,
  resyncIntervalMs: 15_000,
  silenceTimeoutMs: 40_000,
  firstSyncTimeoutMs: 5 * 60_000,
  connectTimeoutMs: 10_000,
  crossTab: typeof window !== 'undefined',
  maxSharedFrameBytes: 16 * 1024 * 1024,
}

/** The server said no for good: retrying cannot help until something changes (token, membership). */
export const TERMINAL_CLOSE_CODES: ReadonlySet<number> = new Set([4401, 4403, 4404])
/** The server refused what this replica wrote: resending the same document would be refused again. */
export { REFUSAL_CLOSE_CODES }
/**
 * The stop code when this replica refused what it was sent: an update it cannot store (clocks past
 * core's MAX_CLOCK, bytes that do not decode), from the server or another tab. RFC 6455's "invalid
 * frame payload data"; set here, not sent (a browser may close a socket only with 1000 or 3000+).
 */
export const INVALID_PAYLOAD_CODE = 1007

const RATE_LIMITED = 4429
/**
 * RFC 6455's "message too big": the server's WebSocket layer closes with it, before the room reads
 * the frame, when a frame is far beyond what the room takes. It means what the room's 4413 means.
 */
const MESSAGE_TOO_BIG = 1009
const TOO_LARGE = 4413

export interface ConnectionSetup {
  /** One server URL, or several nodes' of one deployment: each retry tries the next. */
  url: string | readonly string[]
  conversationId: string
  userId: string
  token: string
  doc: Y.Doc
  awareness: Awareness
  WebSocket: typeof WebSocket
  options: ConnectionOptions
  /** Called before the state changes when the server refuses this replica's writes. */
  onRefused(stop: ConnectionStop): void
}

interface ProviderInternals {
  _checkInterval: ReturnType<typeof setInterval>
  _exitHandler: () => void
  wsLastMessageReceived: number
}

/** What a live conversation needs of its link to the server, whichever transport carries it. */
export interface ConversationLink {
  readonly state: ConnectionState
  readonly stopped: ConnectionStop | undefined
  readonly isStarted: boolean
  onChange(listener: (state: ConnectionState) => void): () => void
  reconnect(): void
  skipBackoff(): void
  disconnect(): void
  setToken(token: string): void
  close(): void
}

/**
 * One conversation's socket: y-websocket's `WebsocketProvider` for the protocol, with the retry
 * policy taken over. The provider is told never to reconnect by itself (`shouldReconnect` false),
 * and this class schedules every attempt: jittered back-off, no retry after 4401/4403/4404, a pause
 * after a refusal, none after an update this replica refused to store (guarded-sync.ts), an
 * immediate attempt on `reconnect()` (the app's "retry now", or resuming after a new token), and a
 * back-off cut short by `skipBackoff()` (the browser's `online` event). Its fixed 30 s watchdog is
 * replaced by one that lets a long first sync finish.
 */
export class Connection implements ConversationLink {
  readonly provider: WebsocketProvider
  private currentState: ConnectionState = 'offline'
  private stopReason: ConnectionStop | undefined
  private readonly retry: RetryTimer
  private readonly resyncTimer: ReturnType<typeof setInterval> | undefined
  private readonly watchdogTimer: ReturnType<typeof setInterval>
  private readonly listeners = new Set<(state: ConnectionState) => void>()
  private started = false
  /** When this socket last asked for the first sync (to repeat the ask if the answer was lost). */
  private syncAskedAt = 0
  /** When the socket now connecting was made (its handshake is bounded by `connectTimeoutMs`). */
  private connectingSince = 0
  private closed = false
  private readonly options: ConnectionOptions
  private readonly onRefused: (stop: ConnectionStop) => void
  /** The sync endpoints of every node given, in the order given; `urlIndex` is the one in use. */
  private readonly syncUrls: string[]
  private urlIndex = 0

  constructor(setup: ConnectionSetup) {
    this.options = setup.options
    this.retry = new RetryTimer(setup.options)
    this.onRefused = setup.onRefused
    const urls = typeof setup.url === 'string' ? [setup.url] : [...setup.url]
    if (urls.length === 0) throw new TypeError('at least one server URL is needed')
    this.syncUrls = urls.map((url) => `${url.replace(/\/+$/, '')}/sync`)
    this.provider = new WebsocketProvider(this.syncUrls[0]!, setup.conversationId, setup.doc, {
      connect: false,
      awareness: setup.awareness,
      params: { token: setup.token },
      WebSocketPolyfill: setup.WebSocket,
      disableBc: !setup.options.crossTab,
      maxBackoffTime: setup.options.maxBackoffMs,
      // Every close the server or the network causes comes to `onClosed`, which decides.
      shouldReconnect: () => false,
    })
    // The default channel is per server and room; two accounts in one browser must never mix.
    this.provider.bcChannel = `${this.provider.bcChannel}#${setup.userId}`
    guardIncomingFrames(this.provider, (source, problem) => this.refuseIncoming(source, problem))
    const internals = this.provider as unknown as ProviderInternals
    // y-websocket adds a process 'exit' listener per provider (to clear awareness, which cannot be
    // sent from an exiting process anyway); a bot with more than ten conversations would get
    // MaxListenersExceeded warnings. Peers drop our awareness on the socket close regardless.
    if (typeof process !== 'undefined' && typeof process.off === 'function') {
      process.off('exit', internals._exitHandler)
    }
    // y-websocket drops any socket silent for 30 s, which kills a first sync larger than 30 s of
    // transfer (its issue #203); our watchdog below replaces it.
    clearInterval(internals._checkInterval)
    this.watchdogTimer = setInterval(() => {
      this.checkConnecting()
      this.checkSilence(internals)
    }, watchdogPeriod(setup.options))
    this.resyncTimer =
      setup.options.resyncIntervalMs > 0
        ? setInterval(() => this.resync(), setup.options.resyncIntervalMs)
        : undefined

    this.provider.on('status', ({ status }) => {
      if (status === 'connecting') {
        this.connectingSince = Date.now()
        this.setState('connecting')
      } else if (status === 'connected') {
        this.syncAskedAt = Date.now()
        this.setState('syncing')
      }
    })
    this.provider.on('sync', (synced) => {
      if (synced) {
        this.retry.reset()
        this.setState('synced')
      }
    })
    this.provider.on('connection-close', () => {
      if (!this.closed) this.setState('offline')
    })
    this.provider.on('closed', (event) => this.onClosed(event))
  }

  get state(): ConnectionState {
    return this.currentState
  }

  /**
   * Set when the connection gave up: an auth failure, a missing conversation, a refused write, or
   * an update this replica refused to store (INVALID_PAYLOAD_CODE).
   */
  get stopped(): ConnectionStop | undefined {
    return this.stopReason
  }

  onChange(listener: (state: ConnectionState) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Start connecting (the first time), or try again now, forgetting back-off and any stop. */
  reconnect(): void {
    if (this.closed) return
    this.started = true
    this.retry.cancel()
    this.retry.reset()
    const wasStopped = this.stopReason !== undefined
    this.stopReason = undefined
    if (wasStopped) this.emit()
    this.provider.connect()
  }

  /**
   * The network is back: if waiting out a back-off, try now, with the back-off restarted (earlier
   * failures say nothing about the new network). Anything else stays as it is: a connection that
   * is up or already trying, not started yet, disconnected on purpose, stopped by the server, or
   * slowed down by it (4429).
   */
  skipBackoff(): void {
    if (this.closed || this.stopReason !== undefined) return
    if (this.retry.skip()) this.provider.connect()
  }

  /** Go offline on purpose (no retries) until `reconnect()`. */
  disconnect(): void {
    this.retry.cancel()
    this.provider.disconnect()
    this.setState('offline')
  }

  setToken(token: string): void {
    this.provider.params = { ...this.provider.params, token }
  }

  get isStarted(): boolean {
    return this.started
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.retry.cancel()
    clearInterval(this.watchdogTimer)
    if (this.resyncTimer) clearInterval(this.resyncTimer)
    this.provider.destroy()
    this.setState('offline')
    this.listeners.clear()
  }

  private onClosed(event: ConnectionStop): void {
    if (this.closed) return
    const { code, reason } =
      event.code === MESSAGE_TOO_BIG
        ? { code: TOO_LARGE, reason: `an update was too large for the server (${event.reason || '1009'})` }
        : event
    if (REFUSAL_CLOSE_CODES.has(code) || TERMINAL_CLOSE_CODES.has(code)) {
      const stop = { code, reason: reason || defaultReason(code) }
      if (REFUSAL_CLOSE_CODES.has(code)) this.onRefused(stop)
      this.stopReason = stop
      this.setState('offline')
      this.emit()
      return
    }
    this.scheduleRetry(code === RATE_LIMITED)
  }

  /**
   * Something sent an update this replica cannot store (guarded-sync.ts refused it, unapplied).
   * Stop, rather than retry: a server that sent it once would send it again on every reconnect.
   * Not `onRefused`: nothing says this replica's writes were wrong, and a hostile server must not
   * be able to fail the outbox silently, so unsent messages stay pending.
   */
  private refuseIncoming(source: FrameSource, problem: string): void {
    if (this.closed || this.stopReason !== undefined) return
    this.retry.cancel()
    const sender = source === 'server' ? 'the server' : 'another tab of this browser'
    this.stopReason = { code: INVALID_PAYLOAD_CODE, reason: `${sender} sent ${problem}` }
    // Closes the socket and leaves the tabs' channel at once: no later frame is read.
    this.provider.disconnect()
    this.setState('offline')
    this.emit()
  }

  private scheduleRetry(rateLimited: boolean): void {
    // Several nodes: the one that just failed may be down; any other serves the conversation.
    // (The tabs' channel keeps the first URL's name, so tabs meet whichever node each uses.)
    this.urlIndex = (this.urlIndex + 1) % this.syncUrls.length
    this.provider.serverUrl = this.syncUrls[this.urlIndex]!
    this.retry.schedule(() => {
      if (!this.closed && this.stopReason === undefined) this.provider.connect()
    }, rateLimited)
  }

  /**
   * Sync step 1 on the open socket: the server answers with whatever this replica lacks. While
   * still syncing, the first answer (or our first ask) may have been lost on the way — a socket that
   * keeps receiving other peers' updates is not silent, so the watchdog would never notice — so the
   * ask is repeated once a period has gone by without an answer, but only if other messages did
   * arrive meanwhile: a large answer still in transit delivers nothing until it is complete, and
   * asking again would only queue a second copy behind it.
   */
  private resync(): void {
    const ws = this.provider.ws
    if (ws?.readyState !== 1) return
    if (this.currentState === 'syncing') {
      const internals = this.provider as unknown as ProviderInternals
      const unanswered = Date.now() - this.syncAskedAt >= this.options.resyncIntervalMs
      if (!unanswered || internals.wsLastMessageReceived <= this.syncAskedAt) return
      this.syncAskedAt = Date.now()
    } else if (this.currentState !== 'synced') return
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, messageSync)
    syncProtocol.writeSyncStep1(encoder, this.provider.doc)
    ws.send(encoding.toUint8Array(encoder))
  }

  /** A handshake that never completes: give up on this attempt and retry through the back-off. */
  private checkConnecting(): void {
    if (this.currentState !== 'connecting' || this.provider.ws?.readyState !== 0) return
    if (Date.now() - this.connectingSince <= this.options.connectTimeoutMs) return
    this.provider.disconnect()
    this.setState('offline')
    this.scheduleRetry(false)
  }

  private checkSilence(internals: ProviderInternals): void {
    if (this.currentState !== 'synced' && this.currentState !== 'syncing') return
    const limit =
      this.currentState === 'synced' ? this.options.silenceTimeoutMs : this.options.firstSyncTimeoutMs
    if (Date.now() - internals.wsLastMessageReceived <= limit) return
    // Half-open: drop the socket and come back through the usual back-off.
    this.provider.disconnect()
    this.setState('offline')
    this.scheduleRetry(false)
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

/** How often a socket's timeouts are checked: often enough for the shortest of them. */
export function watchdogPeriod(options: ConnectionOptions): number {
  return Math.min(1000, options.silenceTimeoutMs / 4, options.connectTimeoutMs / 4)
}

export function defaultReason(code: number): string {
  switch (code) {
    case 4400:
      return 'the server refused an update as malformed'
    case 4401:
      return 'not signed in, or the session expired'
    case 4403:
      return 'not allowed in this conversation'
    case 4404:
      return 'no such conversation'
    case 4413:
      return 'an update was too large'
    default:
      return `closed with code ${code}`
  }
}

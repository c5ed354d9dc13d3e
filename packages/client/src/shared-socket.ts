import { MuxFrameError, readMuxFrame, writeMuxJoin, writeMuxLeave, writeMuxMessage } from '@ticks/core'
import { type ConnectionOptions, type ConnectionStop, watchdogPeriod } from './connection.js'
import { RetryTimer } from './retry-timer.js'

/** What a conversation on the shared socket hears from it (see `SharedConnection`). */
export interface SocketChannel {
  /** The socket is open (again): join now if wanted. */
  opened(): void
  /** A y-websocket message for this conversation. */
  message(frame: Uint8Array): void
  /** The server ended this conversation on the socket, with the code `/sync/<id>` would close with. */
  refused(code: number, reason: string): void
  /** The socket closed; it retries by itself and says `opened` again. */
  closed(): void
  /** The socket gave up (4401; its `stopped` says so): nothing works until a new token and `tryNow()`. */
  gaveUp(): void
  /**
   * Whether its first sync is under way: the server answered its join, and its reply (one frame as
   * large as what the replica lacks) has not arrived. The socket then gives a long silence more time.
   */
  readonly receivingFirstSync: boolean
}

/** What the inbox hears from the socket: each JSON message of the feed, and when to subscribe. */
export interface InboxChannel {
  opened(): void
  message(json: string): void
}

export interface SharedSocketSetup {
  url: string | readonly string[]
  token: string
  WebSocket: typeof WebSocket
  options: ConnectionOptions
}

/** The server said no to the socket itself, for good until something changes (a new token). */
const SOCKET_TERMINAL = new Set([4401])
const RATE_LIMITED = 4429

/**
 * One WebSocket for every conversation of a client (`/sync`, the multiplexed socket; DESIGN
 * section 11). Opened when the first conversation (or the inbox) needs it; retried with jittered
 * back-off across the given nodes' URLs as long as anything needs it; each conversation's own
 * joins, refusals and retries are its `SharedConnection`'s business.
 */
export class SharedSocket {
  private socket: WebSocket | undefined
  private readonly channels = new Map<string, SocketChannel>()
  private inbox: InboxChannel | undefined
  private readonly urls: string[]
  private urlIndex = 0
  private token: string
  private readonly retry: RetryTimer
  private stop: ConnectionStop | undefined
  private lastHeard = 0
  /** When the socket now connecting was made (its handshake is bounded by `connectTimeoutMs`). */
  private connectingSince = 0
  private readonly watchdog: ReturnType<typeof setInterval>
  private closedForGood = false

  constructor(private readonly setup: SharedSocketSetup) {
    const urls = typeof setup.url === 'string' ? [setup.url] : [...setup.url]
    if (urls.length === 0) throw new TypeError('at least one server URL is needed')
    this.urls = urls.map((url) => `${url.replace(/\/+$/, '')}/sync`)
    this.token = setup.token
    this.retry = new RetryTimer(setup.options)
    this.watchdog = setInterval(() => {
      this.checkConnecting()
      this.checkSilence()
    }, watchdogPeriod(setup.options))
    ;(this.watchdog as { unref?: () => void }).unref?.()
  }

  get isOpen(): boolean {
    return this.socket?.readyState === 1
  }

  /** Why the socket gave up, until `tryNow()`. */
  get stopped(): ConnectionStop | undefined {
    return this.stop
  }

  /** A conversation wants the socket: open it if it is not (unless it gave up). */
  attach(conversationId: string, channel: SocketChannel): void {
    this.channels.set(conversationId, channel)
    this.ensureOpen()
  }

  detach(conversationId: string): void {
    this.channels.delete(conversationId)
    this.closeIfUnused()
  }

  /** The inbox wants the socket (it subscribes on every open). */
  attachInbox(inbox: InboxChannel | undefined): void {
    this.inbox = inbox
    if (inbox) this.ensureOpen()
    else this.closeIfUnused()
  }

  join(conversationId: string): void {
    this.sendRaw(writeMuxJoin(conversationId))
  }

  leave(conversationId: string): void {
    this.sendRaw(writeMuxLeave(conversationId))
  }

  /** Send a y-websocket message for a conversation; false when the socket is not open. */
  send(conversationId: string, frame: Uint8Array): boolean {
    return this.sendRaw(writeMuxMessage(conversationId, frame))
  }

  sendRaw(frame: Uint8Array): boolean {
    if (this.socket?.readyState !== 1) return false
    this.socket.send(frame)
    return true
  }

  /** When the socket last received anything (a conversation's resync reads it). */
  get lastMessageAt(): number {
    return this.lastHeard
  }

  setToken(token: string): void {
    this.token = token
  }

  /** Try now, forgetting back-off and a stop (a new token, a "retry" button). */
  tryNow(): void {
    if (this.closedForGood) return
    this.stop = undefined
    this.retry.cancel()
    this.retry.reset()
    this.ensureOpen()
  }

  /** The network is back: a back-off still running ends now (not one the server asked for). */
  skipBackoff(): void {
    if (this.retry.skip()) this.connect()
  }

  close(): void {
    this.closedForGood = true
    this.retry.cancel()
    clearInterval(this.watchdog)
    this.channels.clear()
    this.inbox = undefined
    this.drop()
  }

  private ensureOpen(): void {
    if (this.closedForGood || this.stop || this.socket || this.retry.waiting) return
    this.connect()
  }

  private closeIfUnused(): void {
    if (this.channels.size > 0 || this.inbox) return
    this.retry.cancel()
    this.drop()
  }

  private connect(): void {
    const url = `${this.urls[this.urlIndex]}?token=${encodeURIComponent(this.token)}`
    const socket = new this.setup.WebSocket(url)
    socket.binaryType = 'arraybuffer'
    this.socket = socket
    this.connectingSince = Date.now()
    socket.onopen = () => {
      if (this.socket !== socket) return
      this.lastHeard = Date.now()
      this.retry.reset()
      this.inbox?.opened()
      for (const channel of [...this.channels.values()]) channel.opened()
    }
    socket.onmessage = (event: MessageEvent) => {
      if (this.socket !== socket) return
      this.lastHeard = Date.now()
      this.receive(new Uint8Array(event.data as ArrayBuffer))
    }
    socket.onclose = (event: CloseEvent) => {
      if (this.socket !== socket) return
      this.socket = undefined
      this.onClosed(event.code, event.reason)
    }
    // A failed attempt (refused, unreachable) says so here, then closes: the close decides.
    socket.onerror = () => {}
  }

  private receive(bytes: Uint8Array): void {
    let frame: ReturnType<typeof readMuxFrame>
    try {
      frame = readMuxFrame(bytes)
    } catch (error) {
      // A server that sends what it cannot mean: drop the socket and come back (nothing was applied).
      if (error instanceof MuxFrameError) this.socket?.close(4000, 'malformed frame from the server')
      return
    }
    const { conversationId, body } = frame
    if (body.type === 'inbox') {
      this.inbox?.message(body.json)
      return
    }
    const channel = this.channels.get(conversationId)
    if (!channel) return
    if (body.type === 'message') channel.message(body.frame)
    else if (body.type === 'refused') channel.refused(body.code, body.reason)
  }

  private onClosed(code: number, reason: string): void {
    for (const channel of [...this.channels.values()]) channel.closed()
    if (this.closedForGood || (this.channels.size === 0 && !this.inbox)) return
    if (SOCKET_TERMINAL.has(code)) {
      this.stop = { code, reason: reason || 'not signed in, or the session expired' }
      for (const channel of [...this.channels.values()]) channel.gaveUp()
      return
    }
    this.scheduleRetry(code === RATE_LIMITED)
  }

  private scheduleRetry(rateLimited: boolean): void {
    // Several nodes: the one that just failed may be down; any other serves every conversation.
    this.urlIndex = (this.urlIndex + 1) % this.urls.length
    this.retry.schedule(() => {
      if (!this.closedForGood && !this.stop && (this.channels.size > 0 || this.inbox)) this.connect()
    }, rateLimited)
  }

  private drop(): void {
    const socket = this.socket
    this.socket = undefined
    if (!socket) return
    socket.onopen = socket.onmessage = socket.onclose = null
    socket.onerror = () => {}
    if (socket.readyState <= 1) socket.close()
    for (const channel of [...this.channels.values()]) channel.closed()
  }

  /** A handshake that never completes (the peer took the TCP connection and went quiet): retry. */
  private checkConnecting(): void {
    if (this.socket?.readyState !== 0) return
    if (Date.now() - this.connectingSince <= this.setup.options.connectTimeoutMs) return
    this.drop()
    this.scheduleRetry(false)
  }

  /**
   * Half-open: an open socket that heard nothing for too long is replaced. Only a first sync under
   * way excuses a long silence: a conversation still waiting for the answer to its join has nothing
   * large on its way (the answer is small), so it must not keep a dead socket for the first sync's
   * limit.
   */
  private checkSilence(): void {
    if (!this.isOpen || this.channels.size === 0) return
    const { silenceTimeoutMs, firstSyncTimeoutMs } = this.setup.options
    const firstSyncUnderWay = [...this.channels.values()].some((channel) => channel.receivingFirstSync)
    const limit = firstSyncUnderWay ? firstSyncTimeoutMs : silenceTimeoutMs
    if (Date.now() - this.lastHeard <= limit) return
    this.drop()
    this.scheduleRetry(false)
  }
}

import type { Socket } from 'node:net'
import type { FastifyBaseLogger } from 'fastify'
import type { RawData, WebSocket } from 'ws'
import { AUTH_UNAVAILABLE, AuthError, AuthUnavailableError } from '../auth/authenticator.js'
import type { ServerContext } from '../context.js'
import { RoomError } from '../sync/room.js'
import type { SocketRequest } from './raw-upgrade.js'

/** How a room that cannot be had is told to a client: a close code and a reason. */
export const CLOSE_FOR_ROOM_ERROR: Record<RoomError['code'], [number, string]> = {
  'not-found': [4404, 'no such conversation'],
  'load-failed': [1011, 'conversation could not be loaded, try again later'],
  closed: [1012, 'server restarting'],
  busy: [1013, 'too many open conversations, try again later'],
}

/** The close code, reason and metrics label for a failed `rooms.acquire`; logs what needs it. */
export function roomErrorClose(
  error: unknown,
  log: FastifyBaseLogger,
): { code: number; reason: string; label: string } {
  const [code, reason] =
    error instanceof RoomError ? CLOSE_FOR_ROOM_ERROR[error.code] : [1011, 'internal error']
  if (!(error instanceof RoomError) || error.code === 'load-failed')
    log.error({ err: error }, 'room failed to open')
  return { code, reason, label: error instanceof RoomError ? error.code : 'internal' }
}

/**
 * What every sync socket needs whatever it carries (one conversation or many): the token checked
 * once, frames that arrive meanwhile held (bounded), sends with back-pressure (a slow consumer is
 * dropped, never allowed to stall a room or hold its memory), and one place that says it is gone.
 */
export interface SocketLink {
  readonly log: FastifyBaseLogger
  /** `syncReply`: the frame carries a sync step 2 (see `send` below for why that matters). */
  send(frame: Uint8Array, syncReply: boolean): void
  close(code: number, reason: string): void
  /** Close for refused input (counted in the refusal metrics). */
  refuse(code: number, label: string, reason: string): void
  /** Start handling frames (those held since the upgrade first), once authenticated. */
  start(handler: (frame: Uint8Array) => void): void
  /** Called once, when the socket closed or was dropped as too slow. */
  onGone(listener: () => void): void
  readonly gone: boolean
}

/**
 * Wrap a freshly upgraded socket, and count it among the open sockets (the heartbeat, shutdown and
 * `ticks_sockets` know it from here). Resolves with the user id once the token is verified, or
 * undefined when it was refused (the socket is then closed with 4401, or 1013 when the identity
 * provider is down) or the socket went away meanwhile.
 */
export function openSocketLink(
  context: ServerContext,
  socket: WebSocket,
  request: SocketRequest,
  log: FastifyBaseLogger,
): { link: SocketLink; user: Promise<string | undefined> } {
  const link = new Link(context, socket, request.tcp, log)
  if (!link.takeIpSlot(request.ip)) {
    log.info({ ip: request.ip }, 'refused socket: too many sockets from this address')
    link.refuse(4429, 'too-many-sockets', 'too many open sockets from this address')
    return { link, user: Promise.resolve(undefined) }
  }
  return { link, user: authenticate(context, request.token, link) }
}

/** Ping a socket, or reset it when it did not answer the previous ping (one heartbeat round). */
export function pingOrDrop(socket: WebSocket): void {
  const link = links.get(socket)
  if (!link) return
  if (!link.alive) {
    link.log.info('dropped a socket that missed a heartbeat')
    resetSocket(socket, link.tcp)
    return
  }
  link.alive = false
  socket.ping()
}

/** `resetSocket` for a socket of this module, which knows its TCP socket. */
export function resetLinked(socket: WebSocket): void {
  resetSocket(socket, links.get(socket)?.tcp)
}

/** What ws's listeners find a socket's link by: one listener for every socket, not closures of each. */
const links = new WeakMap<WebSocket, Link>()

function onMessage(this: WebSocket, data: RawData): void {
  links.get(this)?.receive(toBytes(data))
}
function onPong(this: WebSocket): void {
  const link = links.get(this)
  if (link) link.alive = true
}
function onError(this: WebSocket, error: Error): void {
  links.get(this)?.log.warn({ err: error }, 'socket error')
}
function onClose(this: WebSocket): void {
  links.get(this)?.closed()
}

/**
 * A class, unlike this codebase's habit of closures over a plain object: an idle socket lives for
 * hours, and a closure per method (with the object literal holding them, which V8 kept in
 * dictionary mode) cost about 1.3 KiB of heap per socket (a heap snapshot of the idle bench).
 */
class Link implements SocketLink {
  private handler: ((frame: Uint8Array) => void) | null = null
  /** Frames that arrive before `start` (allocated only when one does). */
  private early: Uint8Array[] | null = null
  private earlyBytes = 0
  private goneListeners: (() => void)[] | null = null
  private isGone = false
  /**
   * The address and the user this socket is counted under while it is open (null: not counted),
   * given back when it is gone: kept here, not in a gone listener's closure of each socket.
   */
  private ipSlot: string | null = null
  private userSlot: string | null = null
  /** Answered the last ping (the heartbeat's mark). */
  alive = true
  /**
   * Bytes of sync-step-2 replies still queued. A first sync (or a resync after a long absence) is
   * one frame as large as what the peer lacks, megabytes for a big conversation, and the frames
   * right behind it (our sync step 1, awareness, live traffic) would find it in `bufferedAmount`:
   * counting it as backlog would drop every reconnect of a big conversation as a slow consumer,
   * forever. A slow consumer is one whose *other* traffic piles up. One reply at a time is
   * exempt: a peer asking for the whole document again and again without reading is a backlog.
   */
  private syncReplyBytes = 0

  constructor(
    private readonly context: ServerContext,
    private readonly socket: WebSocket,
    /** The TCP socket ws was handed on upgrade: what `resetSocket` aborts. */
    readonly tcp: Socket,
    readonly log: FastifyBaseLogger,
  ) {
    links.set(socket, this)
    context.sockets.add(socket)
    context.metrics.sockets.inc()
    socket.on('message', onMessage)
    socket.on('pong', onPong)
    socket.on('error', onError)
    socket.on('close', onClose)
  }

  get gone(): boolean {
    return this.isGone
  }

  private get isOpen(): boolean {
    return this.socket.readyState === this.socket.OPEN || this.socket.readyState === this.socket.CONNECTING
  }

  close(code: number, reason: string): void {
    if (this.isOpen) this.socket.close(code, reason)
  }

  refuse(code: number, label: string, reason: string): void {
    if (!this.isOpen) return
    this.context.metrics.roomEvents.refused(code, label)
    this.close(code, reason)
  }

  send(frame: Uint8Array, isSyncReply: boolean): void {
    const { socket } = this
    if (socket.readyState !== socket.OPEN || this.gone) return
    const backlog = socket.bufferedAmount - this.syncReplyBytes
    if (backlog > this.context.limits.maxBufferedBytes) {
      this.dropSlow(backlog)
      return
    }
    const syncReply = this.syncReplyBytes === 0 && isSyncReply
    if (syncReply) this.syncReplyBytes += frame.byteLength
    socket.send(frame, { binary: true }, (error) => {
      // Called once the frame is handed to the kernel (or with an error when the socket died).
      if (syncReply) this.syncReplyBytes -= frame.byteLength
      // An error here means the connection is gone (reset, cut): its 'close' follows; not worth a warning.
      if (error) this.log.debug({ err: error }, 'failed to send to a socket')
    })
  }

  start(handler: (frame: Uint8Array) => void): void {
    this.handler = handler
    const early = this.early ?? []
    this.early = null
    for (const frame of early) {
      if (this.gone) return
      handler(frame)
    }
  }

  onGone(listener: () => void): void {
    if (this.gone) {
      listener()
      return
    }
    // Made with its first listener: grown from empty by push, V8 reserves room for 17.
    if (this.goneListeners) this.goneListeners.push(listener)
    else this.goneListeners = [listener]
  }

  receive(frame: Uint8Array): void {
    const { context } = this
    context.metrics.bytesIn.inc(frame.byteLength)
    if (this.gone) return
    if (this.handler) {
      this.handler(frame)
      return
    }
    // Frames that arrive while the token is checked (and the room loads) wait their turn, bounded
    // in count and in bytes: with a slow JWKS, an unauthenticated peer could otherwise park up to
    // 64 × 16 MiB. No sync step 2 is due before our sync step 1, so the live frame limit applies.
    if (this.socket.readyState !== this.socket.OPEN) return
    const { maxQueuedFrames, maxFrameBytes, maxQueuedBytes } = context.limits
    this.early ??= []
    if (this.early.length >= maxQueuedFrames)
      this.refuse(4429, 'queued-too-many', 'too many frames before the connection was ready')
    else if (frame.byteLength > maxFrameBytes)
      this.refuse(4413, 'queued-too-large', `frame exceeds ${maxFrameBytes} bytes`)
    else if (this.earlyBytes + frame.byteLength > maxQueuedBytes)
      this.refuse(4413, 'queued-too-large', 'too much data before the connection was ready')
    else {
      this.earlyBytes += frame.byteLength
      this.early.push(frame)
    }
  }

  /** Count this socket under its address while it is open; false when `maxSocketsPerIp` is reached. */
  takeIpSlot(ip: string): boolean {
    const { socketsByIp, limits } = this.context
    if (!hasRoom(socketsByIp, ip, limits.maxSocketsPerIp)) return false
    if (this.countsFor(limits.maxSocketsPerIp)) {
      count(socketsByIp, ip)
      this.ipSlot = ip
    }
    return true
  }

  /** Count this socket under its user while it is open; false when `maxSocketsPerUser` is reached. */
  takeUserSlot(userId: string): boolean {
    const { socketsByUser, limits } = this.context
    if (!hasRoom(socketsByUser, userId, limits.maxSocketsPerUser)) return false
    if (this.countsFor(limits.maxSocketsPerUser)) {
      count(socketsByUser, userId)
      this.userSlot = userId
    }
    return true
  }

  /**
   * Whether a slot it has room for is counted: only for a cap (a count per socket for nothing is
   * memory every idle socket holds), and only while open (a gone socket would give it back at once).
   */
  private countsFor(cap: number): boolean {
    return cap > 0 && !this.isGone
  }

  closed(): void {
    this.context.sockets.delete(this.socket)
    this.context.metrics.sockets.dec()
    this.markGone()
  }

  private markGone(): void {
    if (this.isGone) return
    this.isGone = true
    if (this.ipSlot !== null) uncount(this.context.socketsByIp, this.ipSlot)
    if (this.userSlot !== null) uncount(this.context.socketsByUser, this.userSlot)
    this.ipSlot = null
    this.userSlot = null
    const listeners = this.goneListeners ?? []
    this.goneListeners = null
    for (const listener of listeners) listener()
  }

  /**
   * A slow consumer must never stall its rooms nor hold their memory: drop it; it resyncs when it
   * reconnects. The rooms stop sending to it at once. The 1013 close frame is queued behind
   * everything the peer has not read, and ws would wait up to 30 s for the closing handshake with
   * those bytes (and the kernel's) held; after a short grace the TCP connection is reset instead,
   * which frees both and tells the peer now.
   */
  private dropSlow(backlog: number): void {
    const { socket } = this
    this.log.warn({ bufferedAmount: socket.bufferedAmount, backlog }, 'closing a slow socket')
    this.context.metrics.roomEvents.refused(1013, 'slow-consumer')
    this.markGone()
    socket.close(1013, 'too slow: reconnect')
    const timer = setTimeout(() => resetSocket(socket, this.tcp), this.context.limits.slowCloseGraceMs)
    timer.unref()
    socket.once('close', () => clearTimeout(timer))
  }
}

async function authenticate(
  context: ServerContext,
  token: string | undefined,
  link: Link,
): Promise<string | undefined> {
  try {
    const { userId } = await context.auth.verify(token)
    if (link.gone) return undefined
    if (!link.takeUserSlot(userId)) {
      link.log.info({ userId }, 'refused socket: too many sockets for this user')
      link.refuse(4429, 'too-many-sockets', 'too many open sockets for this user')
      return undefined
    }
    return userId
  } catch (error) {
    if (error instanceof AuthUnavailableError) {
      // Not the user's fault: 1013 makes clients retry later instead of asking them to sign in.
      link.log.warn({ err: error }, 'cannot check a token: identity provider unavailable')
      context.metrics.roomEvents.refused(1013, 'auth-unavailable')
      link.close(1013, AUTH_UNAVAILABLE)
      return undefined
    }
    const reason = error instanceof AuthError ? error.message : 'invalid token'
    link.log.info({ reason }, 'refused socket: not authenticated')
    context.metrics.roomEvents.refused(4401, 'unauthenticated')
    link.close(4401, reason)
    return undefined
  }
}

/** Whether one more socket fits under `key` (`cap` 0: no cap). */
function hasRoom(counts: Map<string, number>, key: string, cap: number): boolean {
  return cap <= 0 || (counts.get(key) ?? 0) < cap
}

function count(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1)
}

function uncount(counts: Map<string, number>, key: string): void {
  const left = (counts.get(key) ?? 1) - 1
  if (left > 0) counts.set(key, left)
  else counts.delete(key)
}

/**
 * End a socket now, without a closing handshake: a TCP reset. `terminate()` would `destroy()` the
 * TCP socket, which still leaves the kernel trying to deliver what is queued to a peer that is not
 * reading (or gone); a reset discards it and the peer learns at once.
 */
export function resetSocket(socket: WebSocket, tcp: Socket | undefined): void {
  if (socket.readyState === socket.CLOSED) return
  if (tcp && !tcp.destroyed) tcp.resetAndDestroy()
  else socket.terminate()
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data))
  if (data instanceof ArrayBuffer) return new Uint8Array(data)
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
}

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
 * Wrap a freshly upgraded socket. Resolves with the user id once the token is verified, or
 * undefined when it was refused (the socket is then closed with 4401, or 1013 when the identity
 * provider is down) or the socket went away meanwhile.
 */
export function openSocketLink(
  context: ServerContext,
  socket: WebSocket,
  request: SocketRequest,
  log: FastifyBaseLogger,
): { link: SocketLink; user: Promise<string | undefined> } {
  const { limits } = context
  // The closures below live as long as the socket: they keep the TCP socket, not the token.
  const { tcp, ip, token } = request
  let handler: ((frame: Uint8Array) => void) | null = null
  const early: Uint8Array[] = []
  let earlyBytes = 0
  const goneListeners: (() => void)[] = []
  let gone = false
  const markGone = () => {
    if (gone) return
    gone = true
    for (const listener of goneListeners.splice(0)) listener()
  }

  const isOpen = () => socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING
  const close = (code: number, reason: string) => {
    if (isOpen()) socket.close(code, reason)
  }
  const refuse = (code: number, label: string, reason: string) => {
    if (!isOpen()) return
    context.metrics.roomEvents.refused(code, label)
    close(code, reason)
  }

  // Bytes of sync-step-2 replies still queued. A first sync (or a resync after a long absence) is
  // one frame as large as what the peer lacks, megabytes for a big conversation, and the frames
  // right behind it (our sync step 1, awareness, live traffic) would find it in `bufferedAmount`:
  // counting it as backlog would drop every reconnect of a big conversation as a slow consumer,
  // forever. A slow consumer is one whose *other* traffic piles up. One reply at a time is exempt:
  // a peer asking for the whole document again and again without reading is a backlog.
  let syncReplyBytes = 0
  const send = (frame: Uint8Array, isSyncReply: boolean): void => {
    if (socket.readyState !== socket.OPEN || gone) return
    const backlog = socket.bufferedAmount - syncReplyBytes
    if (backlog > limits.maxBufferedBytes) {
      dropSlow(backlog)
      return
    }
    const syncReply = syncReplyBytes === 0 && isSyncReply
    if (syncReply) syncReplyBytes += frame.byteLength
    socket.send(frame, { binary: true }, (error) => {
      // Called once the frame is handed to the kernel (or with an error when the socket died).
      if (syncReply) syncReplyBytes -= frame.byteLength
      // An error here means the connection is gone (reset, cut): its 'close' follows; not worth a warning.
      if (error) log.debug({ err: error }, 'failed to send to a socket')
    })
  }

  // A slow consumer must never stall its rooms nor hold their memory: drop it; it resyncs when it
  // reconnects. The rooms stop sending to it at once. The 1013 close frame is queued behind
  // everything the peer has not read, and ws would wait up to 30 s for the closing handshake with
  // those bytes (and the kernel's) held; after a short grace the TCP connection is reset instead,
  // which frees both and tells the peer now.
  const dropSlow = (backlog: number): void => {
    log.warn({ bufferedAmount: socket.bufferedAmount, backlog }, 'closing a slow socket')
    context.metrics.roomEvents.refused(1013, 'slow-consumer')
    markGone()
    socket.close(1013, 'too slow: reconnect')
    const timer = setTimeout(() => resetSocket(socket, tcp), limits.slowCloseGraceMs)
    timer.unref()
    socket.once('close', () => clearTimeout(timer))
  }

  socket.on('message', (data: RawData) => {
    const frame = toBytes(data)
    context.metrics.bytesIn.inc(frame.byteLength)
    if (gone) return
    if (handler) return handler(frame)
    // Frames that arrive while the token is checked (and the room loads) wait their turn, bounded
    // in count and in bytes: with a slow JWKS, an unauthenticated peer could otherwise park up to
    // 64 × 16 MiB. No sync step 2 is due before our sync step 1, so the live frame limit applies.
    if (socket.readyState !== socket.OPEN) return
    if (early.length >= limits.maxQueuedFrames)
      return refuse(4429, 'queued-too-many', 'too many frames before the connection was ready')
    if (frame.byteLength > limits.maxFrameBytes)
      return refuse(4413, 'queued-too-large', `frame exceeds ${limits.maxFrameBytes} bytes`)
    earlyBytes += frame.byteLength
    if (earlyBytes > limits.maxQueuedBytes)
      return refuse(4413, 'queued-too-large', 'too much data before the connection was ready')
    early.push(frame)
  })
  socket.on('error', (error) => log.warn({ err: error }, 'socket error'))
  socket.on('close', () => {
    context.sockets.delete(socket)
    context.metrics.sockets.dec()
    markGone()
  })

  const link: SocketLink = {
    log,
    send,
    close,
    refuse,
    start(next) {
      handler = next
      for (const frame of early.splice(0)) {
        if (gone) return
        next(frame)
      }
    },
    onGone(listener) {
      if (gone) listener()
      else goneListeners.push(listener)
    },
    get gone() {
      return gone
    },
  }
  if (!takeSlot(context.socketsByIp, ip, context.limits.maxSocketsPerIp, link)) {
    log.info({ ip }, 'refused socket: too many sockets from this address')
    link.refuse(4429, 'too-many-sockets', 'too many open sockets from this address')
    return { link, user: Promise.resolve(undefined) }
  }
  return { link, user: authenticate(context, token, link) }
}

async function authenticate(
  context: ServerContext,
  token: string | undefined,
  link: SocketLink,
): Promise<string | undefined> {
  try {
    const { userId } = await context.auth.verify(token)
    if (link.gone) return undefined
    if (!takeSlot(context.socketsByUser, userId, context.limits.maxSocketsPerUser, link)) {
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

/**
 * Count one more socket under `key` while it stays open; false when `cap` (0: none) is reached.
 * Called with no socket gone yet, so the release on close always follows the take.
 */
export function takeSlot(counts: Map<string, number>, key: string, cap: number, link: SocketLink): boolean {
  const open = counts.get(key) ?? 0
  if (cap > 0 && open >= cap) return false
  counts.set(key, open + 1)
  link.onGone(() => {
    const left = (counts.get(key) ?? 1) - 1
    if (left > 0) counts.set(key, left)
    else counts.delete(key)
  })
  return true
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

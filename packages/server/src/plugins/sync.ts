import type { Socket } from 'node:net'
import websocket from '@fastify/websocket'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { RawData, WebSocket } from 'ws'
import { AUTH_UNAVAILABLE, AuthError, AuthUnavailableError } from '../auth/authenticator.js'
import type { ServerContext } from '../context.js'
import { isSyncStep2 } from '../sync/protocol.js'
import { type Connection, RoomError } from '../sync/room.js'
import type { RoomLease } from '../sync/rooms.js'

const CLOSE_FOR_ROOM_ERROR: Record<RoomError['code'], [number, string]> = {
  'not-found': [4404, 'no such conversation'],
  'load-failed': [1011, 'conversation could not be loaded, try again later'],
  closed: [1012, 'server restarting'],
  busy: [1013, 'too many open conversations, try again later'],
}

/**
 * The WebSocket transport: `/sync/<conversationId>?token=…`. A thin adapter — auth, then the
 * room's `connect` — plus what only a socket has: heartbeat, back-pressure and frame size.
 */
export async function syncPlugin(app: FastifyInstance, context: ServerContext): Promise<void> {
  const { limits, sockets, rooms } = context
  const alive = new WeakSet<WebSocket>()
  const tcp = new WeakMap<WebSocket, Socket>()
  await app.register(websocket, {
    // ws drops frames far beyond the limit itself (1009); the room answers moderately oversized ones with 4413.
    options: { maxPayload: Math.max(limits.maxFrameBytes, limits.maxSyncFrameBytes) * 2 + 1024 },
    preClose: async () => {
      // No more upgrades: one accepted now would be a socket detached from the HTTP server that
      // nothing closes (Fastify answers it 503 without running any hook). Without a listener,
      // Node serves an Upgrade request as a plain request, which the shutdown closes.
      app.server.removeAllListeners('upgrade')
      // Flush every room, then close its sockets with 1012 (the room does both, in that order).
      await rooms.closeAll(1012, 'server restarting')
      for (const socket of sockets) socket.close(1012, 'server restarting')
      // A peer that stops reading never answers the close: ws would wait 30 s for it.
      await closedWithin([...sockets], limits.shutdownGraceMs, (socket) => reset(socket, tcp.get(socket)))
      app.websocketServer.close()
    },
  })
  const heartbeat = setInterval(() => {
    for (const socket of sockets) {
      if (!alive.has(socket)) {
        app.log.info('dropped a socket that missed a heartbeat')
        reset(socket, tcp.get(socket))
        continue
      }
      alive.delete(socket)
      socket.ping()
    }
  }, limits.heartbeatMs)
  heartbeat.unref()
  app.addHook('onClose', async () => clearInterval(heartbeat))

  app.get<{ Params: { conversationId: string } }>(
    '/sync/:conversationId',
    { websocket: true },
    (socket, request) => {
      sockets.add(socket)
      alive.add(socket)
      // The TCP socket ws was handed on upgrade: what `reset` aborts.
      tcp.set(socket, request.raw.socket)
      context.metrics.sockets.inc()
      socket.on('pong', () => alive.add(socket))
      attach(context, socket, request)
    },
  )
}

function attach(
  context: ServerContext,
  socket: WebSocket,
  request: FastifyRequest<{ Params: { conversationId: string } }>,
): void {
  const { limits } = context
  const conversationId = request.params.conversationId
  const log = request.log.child({ conversationId })
  let connection: Connection | null = null
  let lease: RoomLease | null = null
  let gone = false
  const early: Uint8Array[] = []
  let earlyBytes = 0

  const close = (code: number, reason: string) => {
    if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING)
      socket.close(code, reason)
  }
  /** Close for refused input before a room saw the socket (the room counts its own refusals). */
  const refuse = (code: number, label: string, reason: string) => {
    if (socket.readyState !== socket.OPEN && socket.readyState !== socket.CONNECTING) return
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
  const send = (frame: Uint8Array): void => {
    if (socket.readyState !== socket.OPEN) return
    const backlog = socket.bufferedAmount - syncReplyBytes
    if (backlog > limits.maxBufferedBytes) {
      dropSlow(backlog)
      return
    }
    const syncReply = syncReplyBytes === 0 && isSyncStep2(frame)
    if (syncReply) syncReplyBytes += frame.byteLength
    socket.send(frame, { binary: true }, (error) => {
      // Called once the frame is handed to the kernel (or with an error when the socket died).
      if (syncReply) syncReplyBytes -= frame.byteLength
      // An error here means the connection is gone (reset, cut): its 'close' follows; not worth a warning.
      if (error) log.debug({ err: error }, 'failed to send to a socket')
    })
  }

  // A slow consumer must never stall its room nor hold its memory: drop it; it resyncs when it
  // reconnects. The room stops sending to it at once. The 1013 close frame is queued behind
  // everything the peer has not read, and ws would wait up to 30 s for the closing handshake with
  // those bytes (and the kernel's) held; after a short grace the TCP connection is reset instead,
  // which frees both and tells the peer now.
  const dropSlow = (backlog: number): void => {
    log.warn({ bufferedAmount: socket.bufferedAmount, backlog }, 'closing a slow socket')
    context.metrics.roomEvents.refused(1013, 'slow-consumer')
    connection?.disconnect()
    socket.close(1013, 'too slow: reconnect')
    const timer = setTimeout(() => reset(socket, request.raw.socket), limits.slowCloseGraceMs)
    timer.unref()
    socket.once('close', () => clearTimeout(timer))
  }

  socket.on('message', (data: RawData) => {
    const frame = toBytes(data)
    context.metrics.bytesIn.inc(frame.byteLength)
    if (connection) return connection.receive(frame)
    // Frames that arrive while the token is checked and the room loads wait their turn, bounded
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
    gone = true
    context.sockets.delete(socket)
    context.metrics.sockets.dec()
    connection?.disconnect()
    lease?.release()
  })

  void (async () => {
    let userId: string
    try {
      ;({ userId } = await context.auth.verify(tokenOf(request)))
    } catch (error) {
      if (error instanceof AuthUnavailableError) {
        // Not the user's fault: 1013 makes clients retry later instead of asking them to sign in.
        log.warn({ err: error }, 'cannot check a token: identity provider unavailable')
        context.metrics.roomEvents.refused(1013, 'auth-unavailable')
        return close(1013, AUTH_UNAVAILABLE)
      }
      const reason = error instanceof AuthError ? error.message : 'invalid token'
      log.info({ reason }, 'refused socket: not authenticated')
      context.metrics.roomEvents.refused(4401, 'unauthenticated')
      return close(4401, reason)
    }
    try {
      lease = await context.rooms.acquire(conversationId)
    } catch (error) {
      const [code, reason] =
        error instanceof RoomError ? CLOSE_FOR_ROOM_ERROR[error.code] : [1011, 'internal error']
      if (!(error instanceof RoomError) || error.code === 'load-failed')
        log.error({ err: error }, 'room failed to open')
      else log.info({ userId, code }, `refused socket: ${reason}`)
      // A restart (1012) is no refusal.
      if (code !== 1012)
        context.metrics.roomEvents.refused(code, error instanceof RoomError ? error.code : 'internal')
      return close(code, reason)
    }
    if (gone) {
      lease.release()
      return
    }
    log.info({ userId }, 'socket connected')
    connection = lease.room.connect({ userId, send, close })
    for (const frame of early.splice(0)) connection.receive(frame)
  })()
}

/** Wait until every socket closed, at most `timeoutMs`; then `end` those still open. */
async function closedWithin(
  sockets: WebSocket[],
  timeoutMs: number,
  end: (socket: WebSocket) => void,
): Promise<void> {
  const open = sockets.filter((socket) => socket.readyState !== socket.CLOSED)
  if (open.length === 0) return
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    Promise.all(open.map((socket) => new Promise((resolve) => socket.once('close', resolve)))),
    new Promise((resolve) => {
      timer = setTimeout(resolve, timeoutMs)
    }),
  ])
  clearTimeout(timer)
  for (const socket of open) end(socket)
}

/**
 * End a socket now, without a closing handshake: a TCP reset. `terminate()` would `destroy()` the
 * TCP socket, which still leaves the kernel trying to deliver what is queued to a peer that is not
 * reading (or gone); a reset discards it and the peer learns at once.
 */
function reset(socket: WebSocket, tcp: Socket | undefined): void {
  if (socket.readyState === socket.CLOSED) return
  if (tcp && !tcp.destroyed) tcp.resetAndDestroy()
  else socket.terminate()
}

function tokenOf(request: FastifyRequest): string | undefined {
  const query = request.query as Record<string, unknown> | undefined
  const token = query?.token
  return typeof token === 'string' && token.length > 0 ? token : undefined
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data))
  if (data instanceof ArrayBuffer) return new Uint8Array(data)
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
}

import websocket from '@fastify/websocket'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { RawData, WebSocket } from 'ws'
import { AuthError } from '../auth/authenticator.js'
import type { ServerContext } from '../context.js'
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
  await app.register(websocket, {
    // ws drops frames far beyond the limit itself (1009); the room answers moderately oversized ones with 4413.
    options: { maxPayload: limits.maxFrameBytes * 2 + 1024 },
    preClose: async () => {
      // Flush every room, then close its sockets with 1012 (the room does both, in that order).
      await rooms.closeAll(1012, 'server restarting')
      for (const socket of sockets) socket.close(1012, 'server restarting')
      app.websocketServer.close()
    },
  })

  const alive = new WeakSet<WebSocket>()
  const heartbeat = setInterval(() => {
    for (const socket of sockets) {
      if (!alive.has(socket)) {
        app.log.info('dropped a socket that missed a heartbeat')
        socket.terminate()
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

  const close = (code: number, reason: string) => {
    if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING)
      socket.close(code, reason)
  }

  socket.on('message', (data: RawData) => {
    const frame = toBytes(data)
    context.metrics.bytesIn.inc(frame.byteLength)
    if (connection) return connection.receive(frame)
    // Frames that arrive while the token is checked and the room loads wait their turn.
    if (early.length >= limits.maxQueuedFrames)
      return close(4429, 'too many frames before the connection was ready')
    if (frame.byteLength > limits.maxFrameBytes)
      return close(4413, `frame exceeds ${limits.maxFrameBytes} bytes`)
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
      return close(code, reason)
    }
    if (gone) {
      lease.release()
      return
    }
    log.info({ userId }, 'socket connected')
    connection = lease.room.connect({
      userId,
      send: (frame) => send(socket, frame, limits.maxBufferedBytes, log),
      close,
    })
    for (const frame of early.splice(0)) connection.receive(frame)
  })()
}

function send(
  socket: WebSocket,
  frame: Uint8Array,
  maxBufferedBytes: number,
  log: FastifyRequest['log'],
): void {
  if (socket.readyState !== socket.OPEN) return
  if (socket.bufferedAmount > maxBufferedBytes) {
    // A slow consumer must never stall its room: drop it; it resyncs when it reconnects.
    log.warn({ bufferedAmount: socket.bufferedAmount }, 'closing a slow socket')
    socket.close(1013, 'too slow: reconnect')
    setTimeout(() => socket.terminate(), 1000).unref()
    return
  }
  socket.send(frame, { binary: true }, (error) => {
    if (error) log.warn({ err: error }, 'failed to send to a socket')
  })
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

import type { Socket } from 'node:net'
import websocket from '@fastify/websocket'
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { WebSocket } from 'ws'
import type { ServerContext } from '../context.js'
import { isSyncStep2 } from '../sync/protocol.js'
import { type Connection, RoomError } from '../sync/room.js'
import type { RoomLease } from '../sync/rooms.js'
import { attachMultiplexed } from './multiplexed-socket.js'
import { openSocketLink, resetSocket, roomErrorClose } from './socket-link.js'

/**
 * Slack over the rooms' frame limit before ws itself refuses a frame: a multiplexed frame's
 * envelope (up to 130 bytes), and room for a moderately oversized frame to reach the room, which
 * answers it with 4413 and says by how much.
 */
const MAX_ENVELOPE_BYTES = 64 * 1024

/**
 * The WebSocket transport: `/sync/<conversationId>?token=…`. A thin adapter — auth, then the
 * room's `connect` — plus what only a socket has: heartbeat, back-pressure and frame size.
 */
export async function syncPlugin(app: FastifyInstance, context: ServerContext): Promise<void> {
  const { limits, sockets, rooms } = context
  const alive = new WeakSet<WebSocket>()
  const tcp = new WeakMap<WebSocket, Socket>()
  // A socket's log lines carry the id of the request that opened it.
  const logs = new WeakMap<WebSocket, FastifyBaseLogger>()
  await app.register(websocket, {
    // What ws buffers before any check of ours: the largest frame a room takes, plus a multiplexed
    // frame's envelope (a conversation id). ws closes a larger one itself with 1009, which the
    // client takes as the 4413 the room would have sent.
    options: { maxPayload: Math.max(limits.maxFrameBytes, limits.maxSyncFrameBytes) + MAX_ENVELOPE_BYTES },
    preClose: async () => {
      // No more upgrades: one accepted now would be a socket detached from the HTTP server that
      // nothing closes (Fastify answers it 503 without running any hook). Without a listener,
      // Node serves an Upgrade request as a plain request, which the shutdown closes.
      app.server.removeAllListeners('upgrade')
      // Flush every room, then close its sockets with 1012 (the room does both, in that order).
      await rooms.closeAll(1012, 'server restarting')
      for (const socket of sockets) socket.close(1012, 'server restarting')
      // A peer that stops reading never answers the close: ws would wait 30 s for it.
      await closedWithin([...sockets], limits.shutdownGraceMs, (socket) =>
        resetSocket(socket, tcp.get(socket)),
      )
      app.websocketServer.close()
    },
  })
  const heartbeat = setInterval(() => {
    for (const socket of sockets) {
      if (!alive.has(socket)) {
        const log = logs.get(socket) ?? app.log
        log.info('dropped a socket that missed a heartbeat')
        resetSocket(socket, tcp.get(socket))
        continue
      }
      alive.delete(socket)
      socket.ping()
    }
  }, limits.heartbeatMs)
  heartbeat.unref()
  app.addHook('onClose', async () => clearInterval(heartbeat))

  /** Every socket, whatever it carries: heartbeat, shutdown and the socket count know it. */
  const track = (socket: WebSocket, request: FastifyRequest) => {
    sockets.add(socket)
    alive.add(socket)
    // The TCP socket ws was handed on upgrade: what `resetSocket` aborts.
    tcp.set(socket, request.raw.socket)
    logs.set(socket, request.log)
    context.metrics.sockets.inc()
    socket.on('pong', () => alive.add(socket))
  }
  app.route<{ Params: { conversationId: string } }>({
    method: 'GET',
    url: '/sync/:conversationId',
    handler: upgradeRequired,
    wsHandler: (socket, request) => {
      track(socket, request)
      attachConversation(context, socket, request)
    },
  })
  app.route({
    method: 'GET',
    url: '/sync',
    handler: upgradeRequired,
    wsHandler: (socket, request) => {
      track(socket, request)
      attachMultiplexed(context, socket, request)
    },
  })
}

/** A plain HTTP request to a socket's URL: the JSON error every REST answer has, not an empty 404. */
function upgradeRequired(_request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply
    .code(426)
    .header('upgrade', 'websocket')
    .send({ error: { code: 'upgrade-required', message: 'this is a WebSocket endpoint' } })
}

/** `/sync/<id>`: one conversation, the stock y-websocket protocol. */
function attachConversation(
  context: ServerContext,
  socket: WebSocket,
  request: FastifyRequest<{ Params: { conversationId: string } }>,
): void {
  const conversationId = request.params.conversationId
  const { link, user } = openSocketLink(context, socket, request, request.log.child({ conversationId }))
  let connection: Connection | null = null
  let lease: RoomLease | null = null
  link.onGone(() => {
    connection?.disconnect()
    lease?.release()
  })
  void (async () => {
    const userId = await user
    if (userId === undefined) return
    try {
      lease = await context.rooms.acquire(conversationId)
    } catch (error) {
      const { code, reason, label } = roomErrorClose(error, link.log)
      if (error instanceof RoomError && error.code !== 'load-failed')
        link.log.info({ userId, code }, `refused socket: ${reason}`)
      // A restart (1012) is no refusal.
      if (code !== 1012) context.metrics.roomEvents.refused(code, label)
      return link.close(code, reason)
    }
    if (link.gone) {
      lease.release()
      return
    }
    link.log.info({ userId }, 'socket connected')
    const opened = lease.room.connect({
      userId,
      send: (frame) => link.send(frame, isSyncStep2(frame)),
      close: (code, reason) => link.close(code, reason),
    })
    connection = opened
    link.start((frame) => opened.receive(frame))
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

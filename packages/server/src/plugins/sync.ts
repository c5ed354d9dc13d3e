import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { WebSocket } from 'ws'
import type { ServerContext } from '../context.js'
import type { ServerOptions } from '../options.js'
import { isSyncStep2 } from '../sync/protocol.js'
import { RoomError } from '../sync/room.js'
import type { Peer, RoomLogger } from '../sync/room-options.js'
import type { RoomLease } from '../sync/rooms.js'
import { attachMultiplexed } from './multiplexed-socket.js'
import { acceptRawUpgrades, type SocketRequest } from './raw-upgrade.js'
import { openSocketLink, pingOrDrop, resetLinked, roomErrorClose, type SocketLink } from './socket-link.js'

/**
 * Slack over the rooms' frame limit before ws itself refuses a frame: a multiplexed frame's
 * envelope (up to 130 bytes), and room for a moderately oversized frame to reach the room, which
 * answers it with 4413 and says by how much.
 */
const MAX_ENVELOPE_BYTES = 64 * 1024

export interface SyncPluginOptions {
  context: ServerContext
  /** Checked before a handshake, as the root hooks check every HTTP request. */
  allowedOrigins: readonly string[]
  trustProxy?: ServerOptions['trustProxy']
  requestIdHeader: string | false
  /** An upgrade was refused for its Origin. */
  onOriginRefused?: () => void
}

/**
 * The WebSocket transport: `/sync/<conversationId>?token=…` and `/sync?token=…`. A thin adapter —
 * auth, then the room's `connect` — plus what only a socket has: heartbeat, back-pressure and
 * frame size. The upgrades bypass Fastify (`raw-upgrade.ts`); plain HTTP to those paths gets 426.
 */
export async function syncPlugin(app: FastifyInstance, options: SyncPluginOptions): Promise<void> {
  const { context } = options
  const { limits, sockets, rooms } = context
  const upgrades = acceptRawUpgrades(app, {
    allowedOrigins: options.allowedOrigins,
    trustProxy: options.trustProxy,
    requestIdHeader: options.requestIdHeader,
    onOriginRefused: options.onOriginRefused,
    // What ws buffers before any check of ours: the largest frame a room takes, plus a multiplexed
    // frame's envelope (a conversation id). ws closes a larger one itself with 1009, which the
    // client takes as the 4413 the room would have sent.
    maxPayload: Math.max(limits.maxFrameBytes, limits.maxSyncFrameBytes) + MAX_ENVELOPE_BYTES,
    onSocket: (socket, request, route) => {
      if (route.kind === 'conversation') attachConversation(context, socket, request, route.conversationId)
      else attachMultiplexed(context, socket, request)
    },
  })
  app.addHook('preClose', async () => {
    // No more upgrades: without a listener, Node serves an Upgrade request as a plain request,
    // which the shutdown closes.
    upgrades.stop()
    // Flush every room, then close its sockets with 1012 (the room does both, in that order).
    await rooms.closeAll(1012, 'server restarting')
    for (const socket of sockets) socket.close(1012, 'server restarting')
    // A peer that stops reading never answers the close: ws would wait 30 s for it.
    await closedWithin([...sockets], limits.shutdownGraceMs, resetLinked)
  })
  const heartbeat = setInterval(() => {
    for (const socket of sockets) pingOrDrop(socket)
  }, limits.heartbeatMs)
  heartbeat.unref()
  app.addHook('onClose', async () => clearInterval(heartbeat))

  app.get('/sync/:conversationId', upgradeRequired)
  app.get('/sync', upgradeRequired)
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
  request: SocketRequest,
  conversationId: string,
): void {
  const { link, user } = openSocketLink(context, socket, request, request.log.child({ conversationId }))
  void joinRoom(context, link, user, conversationId)
}

/**
 * Once the token says who it is, the socket's room. A function of its own so that what an idle
 * socket keeps (the two closures handed to the link) holds the room's connection and lease, and
 * not the promises and state of the way there.
 */
async function joinRoom(
  context: ServerContext,
  link: SocketLink,
  user: Promise<string | undefined>,
  conversationId: string,
): Promise<void> {
  const userId = await user
  if (userId === undefined) return
  let lease: RoomLease
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
  const connection = lease.room.connect(new LinkPeer(userId, link))
  link.onGone(() => {
    connection.disconnect()
    lease.release()
  })
  link.start((frame) => connection.receive(frame))
}

/**
 * The room's side of a socket: its sends and closes go to the link. A class, not an object literal
 * of closures: that literal, its `send` and `close` and their context were heap (~0.2 KiB) that
 * every idle socket held (a heap snapshot of the idle bench).
 */
class LinkPeer implements Peer {
  constructor(
    readonly userId: string,
    private readonly link: SocketLink,
  ) {}

  get log(): RoomLogger {
    return this.link.log
  }

  send(frame: Uint8Array): void {
    this.link.send(frame, isSyncStep2(frame))
  }

  close(code: number, reason: string): void {
    this.link.close(code, reason)
  }
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

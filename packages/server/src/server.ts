import type { IncomingMessage } from 'node:http'
import Fastify, { type FastifyInstance, LogController } from 'fastify'
import { createAuthenticator } from './auth/jwt.js'
import { type ClusterNode, openClusterNode } from './cluster.js'
import type { ServerContext } from './context.js'
import { InboxHub } from './inbox/inbox-hub.js'
import { publishingSummaries } from './inbox/publishing-store.js'
import { DEFAULT_REQUEST_ID_HEADER, loggerOptions, pathOf, requestIdFrom } from './logging.js'
import {
  authOptionsProblem,
  DEFAULT_SERVER_LIMITS,
  type ServerLimits,
  type ServerOptions,
} from './options.js'
import { createMetrics, metricsPlugin } from './plugins/metrics.js'
import { normalizeOrigins, ORIGIN_REFUSAL } from './plugins/origin-check.js'
import { restPlugin, sendError } from './plugins/rest.js'
import { securityPlugin } from './plugins/security.js'
import { openStore, storePlugin } from './plugins/store.js'
import { syncPlugin } from './plugins/sync.js'
import { DEFAULT_WEB_ROOT, webPlugin } from './plugins/web.js'
import { createStoreHealth } from './store/health.js'
import { DEFAULT_ROOM_LIMITS } from './sync/room.js'
import { RoomRegistry } from './sync/rooms.js'

/**
 * Build the Ticks server (not yet listening: call `app.listen`, or use `startServer`). Closing
 * the app stops accepting, flushes every room to the store, closes sockets with 1012 and then
 * closes the store.
 */
export async function createServer(options: ServerOptions = {}): Promise<FastifyInstance> {
  const problem = authOptionsProblem(options)
  if (problem) throw new Error(problem)
  const dataDir = options.data ?? './data'
  const allowedOrigins = normalizeOrigins(options.allowedOrigins ?? [])
  const limits: ServerLimits = { ...DEFAULT_ROOM_LIMITS, ...DEFAULT_SERVER_LIMITS, ...options.limits }
  const app: FastifyInstance = Fastify({
    logger: loggerOptions(options.logger),
    // Every request's log lines (a socket's too, for its life) carry its id: a proxy's, or a UUID
    // (ids from a counter would repeat across nodes and restarts).
    requestIdHeader: false,
    genReqId: requestIdFrom(options.requestIdHeader ?? DEFAULT_REQUEST_ID_HEADER),
    ...(options.trustProxy !== undefined && { trustProxy: options.trustProxy }),
    // A URL Fastify cannot route (bad percent-encoding, a huge parameter) still gets the JSON error.
    frameworkErrors: (error, request, reply) => sendError(error, request, reply),
    // Probes every few seconds would drown the log at info.
    logController: new LogController({
      disableRequestLogging: (request) =>
        PROBE_PATHS.has(pathOf(request.url ?? '/')) && !VERBOSE_LEVELS.has(app.log.level),
    }),
    // Slowloris: a request trickling in holds a socket and, on shutdown, the exit. These apply to
    // HTTP requests only: an upgraded WebSocket has left the HTTP server's hands.
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    http: {
      headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs),
      // Node checks those timeouts every 30 s by default, which lets a slow request live a minute.
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(limits.headersTimeoutMs / 2))),
    },
  })
  const inFlight = trackConnections(app)
  const openedStore = await openStore(options.store, dataDir, options.postgres)
  const usesFiles = options.store === undefined || options.store === 'sqlite'
  const auth = createAuthenticator({
    jwtSecret: options.jwtSecret,
    jwksUrl: options.jwksUrl,
    devSessions: options.devSessions,
    audience: options.jwtAudience,
    issuer: options.jwtIssuer,
    clockToleranceSeconds: options.jwtClockToleranceSeconds,
    dataDir: usesFiles ? dataDir : undefined,
    log: app.log,
  })
  let node: ClusterNode | undefined
  try {
    node = await openClusterNode(options, app.log)
  } catch (error) {
    await openedStore.close()
    throw error
  }
  const inbox = new InboxHub({ relay: node?.relay, nodeId: node?.cluster.nodeId, log: app.log })
  // Every writer goes through this one: each committed summary reaches the inbox feeds.
  const store = publishingSummaries(openedStore, inbox)
  let rooms: RoomRegistry | undefined
  const storeHealth = createStoreHealth()
  const metrics = createMetrics({
    rooms: () => rooms?.size ?? 0,
    storeHealth,
    relayConnected: node && (() => node.relay.connected),
  })
  rooms = new RoomRegistry({
    store,
    limits,
    ...(node && { cluster: node.cluster }),
    log: app.log,
    events: metrics.roomEvents,
    ...(options.commitWindowMs !== undefined && { commitWindowMs: options.commitWindowMs }),
    ...(options.maxRooms !== undefined && { maxRooms: options.maxRooms }),
    ...(options.idleUnloadMs !== undefined && { idleUnloadMs: options.idleUnloadMs }),
    ...(options.historyWindow !== undefined && { historyWindow: options.historyWindow }),
  })
  const context: ServerContext = {
    store,
    rooms,
    inbox,
    auth,
    metrics,
    limits,
    sockets: new Set(),
    socketsByUser: new Map(),
    socketsByIp: new Map(),
    nodeId: node?.cluster.nodeId,
  }
  // After the rooms flushed and handed their leases back (sync's preClose); the hub before the relay.
  app.addHook('onClose', async () => {
    await inbox.close()
    await node?.close()
  })

  app.setErrorHandler((error, request, reply) => sendError(error, request, reply))
  // The id a user can quote to find their request in the logs.
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })
  await app.register(securityPlugin, {
    allowedOrigins,
    onOriginRefused: () => metrics.roomEvents.refused(403, ORIGIN_REFUSAL),
  })
  // On close, every preClose hook (sync's: flush the rooms, close sockets with 1012) runs before
  // any onClose hook (store's: close the store), so nothing is written to a closed store.
  await app.register(storePlugin, { store: openedStore, health: storeHealth })
  await app.register(metricsPlugin, { metrics })
  await app.register(syncPlugin, {
    context,
    allowedOrigins,
    trustProxy: options.trustProxy,
    requestIdHeader: options.requestIdHeader ?? DEFAULT_REQUEST_ID_HEADER,
    onOriginRefused: () => metrics.roomEvents.refused(403, ORIGIN_REFUSAL),
  })
  await app.register(restPlugin, context)
  await app.register(webPlugin, { root: options.webRoot ?? DEFAULT_WEB_ROOT })
  // Registered last, so its preClose runs after sync's flush.
  await app.register(async (drain) => {
    drain.addHook('preClose', async () => {
      // Replies to requests the flush just completed get out; then nothing HTTP may hold the exit
      // (a slow body, slow headers, a keep-alive connection mid-request).
      await inFlight.settled(limits.shutdownGraceMs)
      app.server.closeAllConnections()
    })
  })
  return app
}

const PROBE_PATHS = new Set(['/healthz', '/readyz', '/metrics'])
const VERBOSE_LEVELS = new Set(['debug', 'trace'])

/** Node sets `upgrade` on a request it handed to the server's 'upgrade' event (not in its types). */
const isUpgrade = (request: IncomingMessage): boolean => (request as { upgrade?: boolean }).upgrade === true

/**
 * Root hooks (every route and the 404 handler): end the sockets of Upgrade requests that were
 * answered over HTTP, and know which HTTP requests are still running for the shutdown.
 */
function trackConnections(app: FastifyInstance): { settled(timeoutMs: number): Promise<void> } {
  const running = new Set<IncomingMessage>()
  const waiters = new Set<() => void>()
  app.addHook('onRequest', async (request, reply) => {
    // An upgrade has left the HTTP server: closeAllConnections never sees it, so never wait on it.
    if (isUpgrade(request.raw)) return
    running.add(request.raw)
    reply.raw.once('close', () => {
      running.delete(request.raw)
      if (running.size === 0) for (const wake of waiters) wake()
    })
  })
  // An Upgrade request reaches Fastify through the server's 'upgrade' event with its socket
  // detached from the HTTP server: answered over HTTP (404, a REST route, 503) instead of being
  // upgraded, nothing would ever close that socket, and app.close() would wait for it forever.
  // The sync plugin hands every Upgrade that is no socket's to Fastify's routing (raw-upgrade.ts).
  app.addHook('onResponse', async (request) => {
    if (isUpgrade(request.raw)) request.raw.socket.destroy()
  })
  return {
    settled: (timeoutMs) =>
      new Promise<void>((resolve) => {
        if (running.size === 0) return resolve()
        const done = () => {
          clearTimeout(timer)
          waiters.delete(done)
          resolve()
        }
        const timer = setTimeout(done, timeoutMs)
        waiters.add(done)
      }),
  }
}

/** Create and listen; resolves with the app and its http URL (port 0 picks a free port). */
export async function startServer(
  options: ServerOptions = {},
): Promise<{ app: FastifyInstance; url: string }> {
  const app = await createServer(options)
  const host = options.host ?? 'localhost'
  await app.listen({ port: options.port ?? 8080, host })
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : options.port
  const shownHost =
    host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host
  return { app, url: `http://${shownHost}:${port}` }
}

import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { createAuthenticator } from './auth/jwt.js'
import type { ServerContext } from './context.js'
import { DEFAULT_SERVER_LIMITS, type ServerLimits, type ServerOptions } from './options.js'
import { createMetrics, metricsPlugin } from './plugins/metrics.js'
import { restPlugin } from './plugins/rest.js'
import { openStore, storePlugin } from './plugins/store.js'
import { syncPlugin } from './plugins/sync.js'
import { DEFAULT_WEB_ROOT, webPlugin } from './plugins/web.js'
import { DEFAULT_ROOM_LIMITS } from './sync/room.js'
import { RoomRegistry } from './sync/rooms.js'

/**
 * Build the Ticks server (not yet listening: call `app.listen`, or use `startServer`). Closing
 * the app stops accepting, flushes every room to the store, closes sockets with 1012 and then
 * closes the store.
 */
export async function createServer(options: ServerOptions = {}): Promise<FastifyInstance> {
  const dataDir = options.data ?? './data'
  const limits: ServerLimits = { ...DEFAULT_ROOM_LIMITS, ...DEFAULT_SERVER_LIMITS, ...options.limits }
  const app = Fastify({ logger: loggerOptions(options.logger) })
  const store = openStore(options.store, dataDir)
  const usesFiles = options.store === undefined || options.store === 'sqlite'
  const auth = createAuthenticator({
    jwtSecret: options.jwtSecret,
    jwksUrl: options.jwksUrl,
    dataDir: usesFiles ? dataDir : undefined,
  })
  let rooms: RoomRegistry | undefined
  const metrics = createMetrics({ rooms: () => rooms?.size ?? 0 })
  rooms = new RoomRegistry({
    store,
    limits,
    log: app.log,
    events: metrics.roomEvents,
    ...(options.commitWindowMs !== undefined && { commitWindowMs: options.commitWindowMs }),
    ...(options.maxRooms !== undefined && { maxRooms: options.maxRooms }),
    ...(options.idleUnloadMs !== undefined && { idleUnloadMs: options.idleUnloadMs }),
  })
  const context: ServerContext = { store, rooms, auth, metrics, limits, sockets: new Set() }

  // On close, every preClose hook (sync's: flush the rooms, close sockets with 1012) runs before
  // any onClose hook (store's: close the store), so nothing is written to a closed store.
  await app.register(storePlugin, { store })
  await app.register(metricsPlugin, { metrics })
  await app.register(syncPlugin, context)
  await app.register(restPlugin, context)
  await app.register(webPlugin, { root: options.webRoot ?? DEFAULT_WEB_ROOT })
  return app
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

/** Fastify's pino logger, with tokens kept out of every line (they ride in the sync URL's query). */
function loggerOptions(logger: ServerOptions['logger']): FastifyServerOptions['logger'] {
  if (logger === false) return false
  if (logger === undefined || logger === true) return withRedaction({})
  return withRedaction(logger as Record<string, unknown>)
}

function withRedaction(options: Record<string, unknown>): FastifyServerOptions['logger'] {
  return {
    ...options,
    redact: { paths: ['req.headers.authorization', 'token'], censor: '[redacted]' },
    serializers: {
      req: (request: { method: string; url: string; ip?: string }) => ({
        method: request.method,
        url: redactToken(request.url),
        remoteAddress: request.ip,
      }),
    },
  } as FastifyServerOptions['logger']
}

export const redactToken = (url: string): string => url.replace(/([?&]token=)[^&]*/gi, '$1[redacted]')

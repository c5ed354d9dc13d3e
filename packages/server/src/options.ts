import type { FastifyServerOptions } from 'fastify'
import type { PubSub } from './relay/pubsub.js'
import type { PostgresStoreOptions } from './store/postgres-store.js'
import type { Store } from './store/store.js'
import type { RoomLimits } from './sync/room.js'

/** `createServer` options: the CLI flags plus knobs for tests and benchmarks. */
export interface ServerOptions {
  port?: number
  host?: string
  /** Data directory: the SQLite file and the dev-mode secret live here. */
  data?: string
  /** 'sqlite' (default), 'memory', a `postgres://` / `postgresql://` URL, or a Store instance. */
  store?: 'sqlite' | 'memory' | (string & {}) | Store
  /** How the PostgreSQL store connects, when `store` is a PostgreSQL URL. */
  postgres?: PostgresOptions
  /**
   * Run as one of several nodes over a shared store (DESIGN section 10): the Redis URL that
   * relays between them. Without it, but with `nodeId` or `relay`, nodes find each other's writes
   * by polling the store only (slower, still correct).
   */
  redis?: string
  /** A relay instance instead of a Redis URL (embedding, tests: LocalPubSub). */
  relay?: PubSub
  /** This node's name in leases and logs (default: host name, pid and a random suffix). */
  nodeId?: string
  /** Sequencer lease and catch-up timing for several nodes (defaults: 5 s, 1 s, 0.5 s). */
  cluster?: { leaseMs?: number; renewMs?: number; pollMs?: number }
  jwtSecret?: string
  jwksUrl?: string
  /** Accept only tokens whose `aud` names one of these (default: `aud` is not checked). */
  jwtAudience?: string | string[]
  /** Accept only tokens whose `iss` is one of these (default: `iss` is not checked). */
  jwtIssuer?: string | string[]
  /**
   * How far the issuer's clock may be from ours when checking `nbf` and `exp` (default 30 s):
   * without any, a token minted a moment ago on a clock a little ahead is refused as not yet valid.
   */
  jwtClockToleranceSeconds?: number
  /**
   * Browser origins besides the server's own that may open sockets and call the REST API (CORS),
   * as `scheme://host[:port]`; `'*'` allows every origin. Requests without an Origin header (Node
   * clients) and same-origin ones always may; any other Origin gets 403. Default: none.
   */
  allowedOrigins?: string[]
  /**
   * Fastify's `trustProxy`: which proxies' `X-Forwarded-For` / `-Host` to believe, so that rate
   * limits and socket caps see each client's address, and the same-origin check the public host.
   */
  trustProxy?: FastifyServerOptions['trustProxy']
  /**
   * The header a request's id may arrive in (a proxy's, so that its log lines and ours meet);
   * false: always generate one. Default `x-request-id`.
   */
  requestIdHeader?: string | false
  /**
   * Offer `POST /api/session` (a token for any user id, to anyone who asks) signed with
   * `jwtSecret`, so that the web app signs in by name on several nodes sharing that secret
   * (`npm run cluster`). For trying things locally only. Refused with `jwksUrl`: the server holds
   * no key to sign with then. Without a secret or JWKS URL (dev mode) sessions are offered anyway.
   */
  devSessions?: boolean
  logger?: FastifyServerOptions['logger']
  limits?: Partial<ServerLimits>
  /** Extra wait before each room commit, so more updates share it (default 0: the next turn). */
  commitWindowMs?: number
  maxRooms?: number
  idleUnloadMs?: number
  /**
   * Sequenced messages a conversation's live document keeps (DESIGN section 12); older ones are
   * sealed into the store's history and served by `GET /api/conversations/:id/history`. Default
   * 1000; 0 never seals.
   */
  historyWindow?: number
  /** Where the built web app is; false to serve none. Defaults to apps/web/dist of this repo. */
  webRoot?: string | false
}

/** The PostgreSQL store's knobs (`PostgresStoreOptions` without the URL; defaults there). */
export type PostgresOptions = Omit<PostgresStoreOptions, 'connectionString'>

export interface ServerLimits extends RoomLimits {
  /** A socket with more unsent bytes than this is a slow consumer: it is closed, the room goes on. */
  maxBufferedBytes: number
  /**
   * How long a slow socket's close frame (1013) may wait behind the bytes its peer is not reading
   * before the TCP connection is reset, which frees the buffers at once.
   */
  slowCloseGraceMs: number
  /** Ping interval; a socket that did not answer the previous ping is dropped. */
  heartbeatMs: number
  /** Frames a socket may send before its auth and room are ready (4429 beyond). */
  maxQueuedFrames: number
  /**
   * Bytes a socket may send before its auth and room are ready (4413 beyond); each such frame is
   * also held to `maxFrameBytes`: a peer cannot owe a sync step 2 before it got our sync step 1.
   */
  maxQueuedBytes: number
  /**
   * Open sockets per user (4429 beyond, once the token says who it is). A client needs one (the
   * shared socket) per tab or device; `/sync/<id>` clients one per conversation. 0: no cap.
   */
  maxSocketsPerUser: number
  /**
   * Open sockets per client address (4429 beyond, before the token is checked). 0 (the default):
   * no cap, since behind a proxy every client shares its address unless Fastify's `trustProxy`
   * says where they come from.
   */
  maxSocketsPerIp: number
  /** Conversations one multiplexed socket may have joined at once (a refusal frame, 4429, beyond). */
  maxConversationsPerSocket: number
  /** Joins per second and burst on one multiplexed socket: each may load a room (4429 beyond). */
  joinsPerSecond: number
  joinBurst: number
  /**
   * On shutdown, how long sockets get for their closing handshake after the 1012, and HTTP
   * requests to finish after the flush, before their connections are cut.
   */
  shutdownGraceMs: number
  /** Whole HTTP request, headers and body (slowloris); upgraded WebSockets are not HTTP requests. */
  requestTimeoutMs: number
  /** HTTP request headers. */
  headersTimeoutMs: number
  /** An idle keep-alive HTTP connection. */
  keepAliveTimeoutMs: number
  /** REST requests per client address per `restRateWindowMs` (429 beyond); 0: no limit. */
  restRequestsPerWindow: number
  restRateWindowMs: number
}

export const DEFAULT_SERVER_LIMITS: Omit<ServerLimits, keyof RoomLimits> = {
  maxBufferedBytes: 8 * 1024 * 1024,
  slowCloseGraceMs: 1000,
  heartbeatMs: 30_000,
  maxQueuedFrames: 64,
  maxSocketsPerUser: 64,
  maxSocketsPerIp: 0,
  maxConversationsPerSocket: 1000,
  joinsPerSecond: 100,
  joinBurst: 1000,
  maxQueuedBytes: 1024 * 1024,
  shutdownGraceMs: 1000,
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 72_000,
  // 10 a second sustained: far above what the web app asks (its data comes over the socket), low
  // enough that one address cannot keep the server busy verifying tokens.
  restRequestsPerWindow: 600,
  restRateWindowMs: 60_000,
}

export const DEFAULT_JWT_CLOCK_TOLERANCE_SECONDS = 30

/** HS256 keys shorter than the hash (RFC 7518 §3.2) can be brute-forced offline from one token. */
export const MIN_JWT_SECRET_BYTES = 32

/**
 * What is wrong with the auth options, if anything. An empty secret must never mean "no secret":
 * that would be dev mode, where anyone can get a token for any user.
 */
export function authOptionsProblem(
  options: Pick<
    ServerOptions,
    'jwtSecret' | 'jwksUrl' | 'devSessions' | 'jwtAudience' | 'jwtIssuer' | 'jwtClockToleranceSeconds'
  >,
): string | undefined {
  const { jwtSecret, jwksUrl, devSessions, jwtAudience, jwtIssuer, jwtClockToleranceSeconds } = options
  if ([jwtAudience ?? [], jwtIssuer ?? []].flat().includes(''))
    return 'an empty JWT audience or issuer would match no token'
  if (
    jwtClockToleranceSeconds !== undefined &&
    !(Number.isFinite(jwtClockToleranceSeconds) && jwtClockToleranceSeconds >= 0)
  )
    return `the JWT clock tolerance ${jwtClockToleranceSeconds} is not a number of seconds (0 or more)`
  if (jwtSecret !== undefined && jwksUrl !== undefined) return 'give a JWT secret or a JWKS URL, not both'
  if (devSessions && jwksUrl !== undefined)
    return 'dev sessions are signed with a JWT secret; with a JWKS URL the server has no key to sign with'
  if (jwtSecret !== undefined) {
    if (jwtSecret === '') return 'the JWT secret is empty'
    const bytes = Buffer.byteLength(jwtSecret, 'utf8')
    if (bytes < MIN_JWT_SECRET_BYTES)
      return `the JWT secret is ${bytes} bytes; HS256 needs at least ${MIN_JWT_SECRET_BYTES} bytes (e.g. \`openssl rand -base64 32\`)`
  }
  if (jwksUrl !== undefined) {
    if (jwksUrl === '') return 'the JWKS URL is empty'
    if (!URL.canParse(jwksUrl)) return `the JWKS URL ${JSON.stringify(jwksUrl)} is not a URL`
  }
  return undefined
}

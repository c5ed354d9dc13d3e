import type { FastifyServerOptions } from 'fastify'
import type { Store } from './store/store.js'
import type { RoomLimits } from './sync/room.js'

/** `createServer` options: the CLI flags plus knobs for tests and benchmarks. */
export interface ServerOptions {
  port?: number
  host?: string
  /** Data directory: the SQLite file and the dev-mode secret live here. */
  data?: string
  /** 'sqlite' (default), 'memory', or a Store instance. PostgreSQL URLs come with the postgres adapter. */
  store?: 'sqlite' | 'memory' | (string & {}) | Store
  jwtSecret?: string
  jwksUrl?: string
  logger?: FastifyServerOptions['logger']
  limits?: Partial<ServerLimits>
  /** Extra wait before each room commit, so more updates share it (default 0: the next turn). */
  commitWindowMs?: number
  maxRooms?: number
  idleUnloadMs?: number
  /** Where the built web app is; false to serve none. Defaults to apps/web/dist of this repo. */
  webRoot?: string | false
}

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
  /** Frames a socket may send before its auth and room are ready. */
  maxQueuedFrames: number
}

export const DEFAULT_SERVER_LIMITS: Omit<ServerLimits, keyof RoomLimits> = {
  maxBufferedBytes: 8 * 1024 * 1024,
  slowCloseGraceMs: 1000,
  heartbeatMs: 30_000,
  maxQueuedFrames: 64,
}

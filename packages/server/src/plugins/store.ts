import { join, resolve } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { PostgresOptions } from '../options.js'
import { redactUrl } from '../redact-url.js'
import type { StoreHealth } from '../store/health.js'
import { MemoryStore } from '../store/memory-store.js'
import { PostgresStore } from '../store/postgres-store.js'
import { SqliteStore } from '../store/sqlite-store.js'
import type { Store } from '../store/store.js'

export const SQLITE_FILE = 'ticks.sqlite'

export const isPostgresUrl = (store: unknown): store is string =>
  typeof store === 'string' && /^postgres(ql)?:\/\//.test(store)

/**
 * Open the store the options name. PostgreSQL is reached and its schema created or migrated
 * here, so a wrong URL or an unreachable server stops the start with a reason.
 */
export async function openStore(
  store: 'sqlite' | 'memory' | string | Store | undefined,
  dataDir: string,
  postgres: PostgresOptions = {},
): Promise<Store> {
  if (store !== undefined && typeof store !== 'string') return store
  const kind = store ?? 'sqlite'
  if (kind === 'memory') return new MemoryStore()
  if (kind === 'sqlite') return new SqliteStore(join(resolve(dataDir), SQLITE_FILE))
  if (isPostgresUrl(kind)) {
    try {
      return await PostgresStore.open({ ...postgres, connectionString: kind })
    } catch (error) {
      throw new Error(`PostgreSQL at ${redactUrl(kind)}: ${describeError(error)}`, { cause: error })
    }
  }
  throw new Error(`unknown store ${JSON.stringify(kind)}: use sqlite, memory or a postgres:// URL`)
}

/**
 * What went wrong, in words: Node reports a connection refused on every address of a host as
 * an AggregateError whose own message is empty.
 */
export function describeError(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return [...new Set(error.errors.map(describeError))].join('; ')
  }
  if (error instanceof Error) return error.message || (error as { code?: string }).code || error.name
  return String(error)
}

/** Not a valid conversation id (':' is outside the id alphabet), so it never meets a real one. */
const PROBE_DOC = 'readyz:probe'

/**
 * Closes the store last (after the rooms flushed) and answers /readyz by asking it: a read, and
 * while commits are failing (a full disk, a read-only file) a write, which alone can tell when
 * the store takes writes again.
 */
export async function storePlugin(
  app: FastifyInstance,
  options: { store: Store; health?: StoreHealth },
): Promise<void> {
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
  })
  app.addHook('onClose', async () => {
    await options.store.close()
  })
  app.get('/readyz', async (_request, reply) => {
    if (closing) return reply.code(503).send({ status: 'closing' })
    try {
      await options.store.load(PROBE_DOC)
    } catch (error) {
      app.log.error({ err: error }, 'readiness probe: store unavailable')
      return reply.code(503).send({ status: 'store unavailable', reason: describeError(error) })
    }
    const failing = options.health?.failing()
    if (failing) {
      try {
        await options.store.append(PROBE_DOC, [])
        options.health?.committed()
        app.log.info({ failedSince: new Date(failing.since).toISOString() }, 'store takes writes again')
      } catch (error) {
        app.log.error({ err: error }, 'readiness probe: store does not take writes')
        return reply.code(503).send({
          status: 'store not writable',
          since: new Date(failing.since).toISOString(),
          reason: failing.message,
        })
      }
    }
    return { status: 'ready' }
  })
}

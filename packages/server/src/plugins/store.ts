import { join, resolve } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { StoreHealth } from '../store/health.js'
import { MemoryStore } from '../store/memory-store.js'
import { SqliteStore } from '../store/sqlite-store.js'
import type { Store } from '../store/store.js'

export const SQLITE_FILE = 'ticks.sqlite'

/** Open the store the options name; the seam where a postgres:// URL will plug in. */
export function openStore(store: 'sqlite' | 'memory' | string | Store | undefined, dataDir: string): Store {
  if (store !== undefined && typeof store !== 'string') return store
  const kind = store ?? 'sqlite'
  if (kind === 'memory') return new MemoryStore()
  if (kind === 'sqlite') return new SqliteStore(join(resolve(dataDir), SQLITE_FILE))
  if (/^postgres(ql)?:\/\//.test(kind)) {
    throw new Error('the postgres store is not implemented yet; use --store sqlite or memory')
  }
  throw new Error(`unknown store ${JSON.stringify(kind)}: use sqlite or memory`)
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
      return reply.code(503).send({ status: 'store unavailable' })
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

import { join, resolve } from 'node:path'
import type { FastifyInstance } from 'fastify'
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

/** Closes the store last (after the rooms flushed) and answers /readyz by asking it. */
export async function storePlugin(app: FastifyInstance, options: { store: Store }): Promise<void> {
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
      await options.store.load('readyz-probe')
      return { status: 'ready' }
    } catch (error) {
      app.log.error({ err: error }, 'readiness probe: store unavailable')
      return reply.code(503).send({ status: 'store unavailable' })
    }
  })
}

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, type LocalPostgres, startLocalPostgres } from '../../scripts/local-services.js'

export { postgresBinDir } from '../../scripts/local-services.js'

/**
 * A real PostgreSQL (Debian's package, not its system service) on 127.0.0.1, private to one test
 * suite: its own cluster in a temp dir (`initdb`), on a free port, stopped and removed at the end.
 */
export interface TestPostgres {
  port: number
  /** A new, empty database; resolves with its URL. */
  createDatabase(): Promise<string>
  /** Stop it as a crash would (`pg_ctl stop -m immediate`): connections are cut, nothing is flushed. */
  stop(): Promise<void>
  /** Start it again on the same port, with the same data. */
  start(): Promise<void>
  close(): Promise<void>
}

export async function startPostgres(): Promise<TestPostgres> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'ticks-pg-'))
  const remove = () => rmSync(dir, { recursive: true, force: true })
  let server: LocalPostgres
  try {
    server = await startLocalPostgres(dir, port)
  } catch (error) {
    remove()
    throw error
  }
  let databases = 0
  return {
    port,
    createDatabase: () => server.createDatabase(`ticks_${++databases}`),
    stop: () => server.stop('immediate'),
    start: () => server.start(),
    async close() {
      try {
        await server.stop('immediate')
      } finally {
        remove()
      }
    },
  }
}

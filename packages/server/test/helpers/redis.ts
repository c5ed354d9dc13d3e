import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, type LocalRedis, startLocalRedis } from '../../scripts/local-services.js'

/** A real redis-server (Debian's package) on 127.0.0.1, private to one test suite. */
export interface TestRedis {
  url: string
  port: number
  /** Kill it (SIGKILL: a crash, nothing flushed). */
  stop(): Promise<void>
  /** Start it again on the same port. */
  start(): Promise<void>
  close(): Promise<void>
}

export async function startRedis(): Promise<TestRedis> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'ticks-redis-'))
  const remove = () => rmSync(dir, { recursive: true, force: true })
  let server: LocalRedis
  try {
    server = await startLocalRedis(dir, port)
  } catch (error) {
    remove()
    throw error
  }
  const stop = () => server.stop('SIGKILL')
  return {
    url: server.url,
    port,
    stop,
    start: () => server.start(),
    async close() {
      await stop()
      remove()
    },
  }
}

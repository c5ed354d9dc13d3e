import { execFileSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { constants, tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  freePort,
  type LocalPostgres,
  type LocalRedis,
  startLocalPostgres,
  startLocalRedis,
} from '@ticks/server/scripts/local-services'
import { createClient } from 'redis'

/**
 * The cluster scenario's PostgreSQL and Redis: private processes on 127.0.0.1 in one temp dir,
 * started as the server's tests and `npm run cluster` start them (scripts/local-services.ts), and
 * gone when the bench ends, even by its watchdog or a Ctrl-C. Also what the bench reads of them:
 * their CPU time and the bytes Redis moved.
 */
export interface BenchServices {
  postgres: LocalPostgres
  redis: LocalRedis
  /** CPU time so far, µs: PostgreSQL (postmaster, backends, those that exited) and redis-server. */
  cpu(): { postgres: number; redis: number }
  /**
   * Redis's `total_net_input_bytes` / `total_net_output_bytes` (INFO stats), less the bench's own
   * INFO exchanges; undefined while Redis is down.
   */
  redisBytes(): Promise<{ in: number; out: number } | undefined>
  stop(): Promise<void>
}

export async function startServices(): Promise<BenchServices> {
  const dir = mkdtempSync(join(tmpdir(), 'ticks-bench-cluster-'))
  const running: { postgres?: LocalPostgres; redis?: LocalRedis } = {}
  const releaseGuard = stopOnExit(dir, running)
  const stopAll = async () => {
    await running.redis?.stop('SIGTERM').catch(() => undefined)
    await running.postgres
      ?.stop('fast')
      .catch(() => running.postgres?.stop('immediate').catch(() => undefined))
    rmSync(dir, { recursive: true, force: true })
    releaseGuard()
  }
  try {
    // As root, PostgreSQL runs as the `postgres` user (initdb refuses root), which must reach its subdir.
    if (process.getuid?.() === 0) chmodSync(dir, 0o711)
    mkdirSync(join(dir, 'postgres'))
    mkdirSync(join(dir, 'redis'))
    const [postgres, redis] = await Promise.allSettled([
      startLocalPostgres(join(dir, 'postgres'), await freePort()),
      startLocalRedis(join(dir, 'redis'), await freePort()),
    ])
    if (postgres.status === 'fulfilled') running.postgres = postgres.value
    if (redis.status === 'fulfilled') running.redis = redis.value
    for (const result of [postgres, redis]) if (result.status === 'rejected') throw result.reason
  } catch (error) {
    await stopAll()
    throw error
  }
  const postgres = running.postgres!
  const redis = running.redis!
  const info = createClient({
    url: redis.url,
    socket: { reconnectStrategy: () => 200, connectTimeout: 1000 },
    disableOfflineQueue: true,
  })
  info.on('error', () => {}) // expected while the scenario has Redis down
  await info.connect()
  /** The bench's own INFO traffic: its commands in, its replies out. */
  const own = { in: 0, out: 0 }
  return {
    postgres,
    redis,
    cpu: () => ({ postgres: treeCpuMicros(postgres.pid), redis: treeCpuMicros(redis.pid) }),
    async redisBytes() {
      if (!info.isReady) return undefined
      const text = await info.info('stats').catch(() => undefined)
      if (text === undefined) return undefined
      const counter = (name: string) =>
        Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN)
      own.in += INFO_STATS_COMMAND_BYTES
      const bytes = {
        in: counter('total_net_input_bytes') - own.in,
        out: counter('total_net_output_bytes') - own.out,
      }
      // The reply (a bulk string) is counted by Redis once sent, so in the next reading.
      const length = Buffer.byteLength(text)
      own.out += `$${length}\r\n`.length + length + 2
      return bytes
    },
    async stop() {
      await info.close().catch(() => info.destroy())
      await stopAll()
    },
  }
}

/** `INFO stats` as RESP: *2 $4 INFO $5 stats. */
const INFO_STATS_COMMAND_BYTES = '*2\r\n$4\r\nINFO\r\n$5\r\nstats\r\n'.length

const MICROS_PER_TICK = 1e6 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())

/** The fields of /proc/<pid>/stat after the command name: [1] ppid, [11] utime … [14] cstime. */
function procStat(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return text.slice(text.lastIndexOf(')') + 2).split(' ')
  } catch {
    return undefined
  }
}

/**
 * CPU time of a process, of its children now running and of those it reaped (PostgreSQL: the
 * postmaster, its backends and helpers), in µs.
 */
function treeCpuMicros(root: number | undefined): number {
  const rootStat = root === undefined ? undefined : procStat(root)
  if (!rootStat) return Number.NaN
  const field = (stat: string[], index: number) => Number(stat[index])
  let ticks = field(rootStat, 11) + field(rootStat, 12) + field(rootStat, 13) + field(rootStat, 14)
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const stat = procStat(Number(name))
    if (stat && field(stat, 1) === root) ticks += field(stat, 11) + field(stat, 12)
  }
  return ticks * MICROS_PER_TICK
}

/**
 * PostgreSQL runs detached (pg_ctl) and outlives a bench that exits without stopping it: on exit
 * (the watchdog's `process.exit`, a Ctrl-C or SIGTERM), stop both services as a crash would and
 * remove the dir. Synchronous, as an exit handler must be. Returns the function that removes the guard.
 */
function stopOnExit(dir: string, running: { postgres?: LocalPostgres; redis?: LocalRedis }): () => void {
  const onExit = () => {
    signal(running.redis?.pid, 'SIGKILL')
    const postmaster = running.postgres?.pid
    signal(postmaster, 'SIGQUIT') // PostgreSQL's immediate shutdown
    const deadline = Date.now() + 5000
    const sleeper = new Int32Array(new SharedArrayBuffer(4))
    while (postmaster !== undefined && Date.now() < deadline && signal(postmaster, 0)) {
      Atomics.wait(sleeper, 0, 0, 20)
    }
    rmSync(dir, { recursive: true, force: true })
  }
  const onSignal = (name: NodeJS.Signals) => process.exit(128 + constants.signals[name])
  process.once('exit', onExit)
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return () => {
    process.off('exit', onExit)
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

/** process.kill that tells whether the process was there. */
function signal(pid: number | undefined, name: NodeJS.Signals | 0): boolean {
  if (pid === undefined) return false
  try {
    process.kill(pid, name)
    return true
  } catch {
    return false
  }
}

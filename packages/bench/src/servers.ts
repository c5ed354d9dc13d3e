import { type ChildProcess, fork } from 'node:child_process'
import { createHmac } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import type { HostRequest, LoopSample, MemorySample, ServerKind, TicksHostOptions } from './server-host.js'
import { staleBuild } from './ticks-build.js'

export type { ServerKind, TicksHostOptions } from './server-host.js'

/**
 * The Ticks servers' token secret. Here, not in server-host.ts: importing a value from that
 * script would run it (start a server) in the bench process too.
 */
export const JWT_SECRET = 'ticks-bench-secret-0123456789abcdef'

/** BENCH_SERVERS=ticks,yws limits a run to some servers (development). */
export const KINDS: ServerKind[] = (['ticks', 'yws', 'hocuspocus'] as const).filter(
  (kind) => !process.env.BENCH_SERVERS || process.env.BENCH_SERVERS.split(',').includes(kind),
)
export const LABEL: Record<ServerKind, string> = {
  ticks: 'Ticks (sqlite, durable)',
  yws: '@y/websocket-server 0.1.1 (in-memory)',
  hocuspocus: '@hocuspocus/server 3 (no persistence)',
}

export interface HostedServer {
  kind: ServerKind
  /** ws://127.0.0.1:port */
  url: string
  /** The server process's id (its CPU time can be read from /proc too). */
  pid: number
  /** Signal the server process (a crash: SIGKILL); `close()` afterwards only waits for its exit. */
  kill(signal: NodeJS.Signals): void
  request<T = unknown>(request: HostRequest): Promise<T>
  memory(): Promise<MemorySample>
  /** Event-loop delay of the server process since the last call. */
  loop(): Promise<LoopSample>
  /** CPU time of the server process so far (µs, as `process.cpuUsage()`). */
  cpu(): Promise<NodeJS.CpuUsage>
  /** Ticks only: the Prometheus text of GET /metrics. */
  metrics(): Promise<string>
  /** Ticks only: create conversations (meta with these members); the others need nothing. */
  conversations(rooms: { id: string; members: string[] }[]): Promise<void>
  close(): Promise<void>
}

/**
 * Start a server in a child process (`--expose-gc`, so memory can be measured after a full GC).
 * Ticks runs on SQLite unless `ticksOptions` name a PostgreSQL (and a cluster node's settings).
 */
export async function startHosted(
  kind: ServerKind,
  ticksOptions: TicksHostOptions = {},
): Promise<HostedServer> {
  const script = fileURLToPath(new URL('./server-host.ts', import.meta.url))
  const fromSources = process.env.BENCH_SOURCE === '1'
  const stale = kind === 'ticks' && !fromSources ? staleBuild() : undefined
  if (stale) throw new Error(stale)
  const child: ChildProcess = fork(script, [kind, JSON.stringify(ticksOptions)], {
    execArgv: [
      // Ticks as shipped: its built dist (`npm run bench` builds first). From the sources, tsx's
      // esbuild keeps function names with `__name(fn, 'name')`, a defineProperty that gives every
      // closure a 256-byte property dictionary: 2.9 KiB of heap per idle socket that no
      // deployment has (see the README, idle). BENCH_SOURCE=1 runs the sources (no build needed).
      ...(kind !== 'ticks' || fromSources ? ['--conditions=source'] : []),
      '--import',
      'tsx',
      '--expose-gc',
      // BENCH_PROFILE=dir: a V8 CPU profile of each server process (development).
      ...(process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : []),
    ],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>()
  let next = 0
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const gone = () => child.exitCode !== null || child.signalCode !== null
  // A request to a process that died (killed on purpose, or crashed) fails instead of waiting forever.
  child.once('exit', (code, signal) => {
    for (const waiting of pending.values())
      waiting.reject(new Error(`${kind} server exited (${signal ?? code})`))
    pending.clear()
  })
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)))
    child.on('message', (message: { ready?: boolean; port?: number; rid?: number; value?: unknown }) => {
      if (message.ready) resolve(message.port!)
      else if (message.rid !== undefined) {
        pending.get(message.rid)?.resolve(message.value)
        pending.delete(message.rid)
      }
    })
  })
  const request = <T>(body: HostRequest) =>
    new Promise<T>((resolve, reject) => {
      if (gone() || !child.connected) return reject(new Error(`${kind} server is not running`))
      const rid = next++
      pending.set(rid, { resolve: resolve as (value: unknown) => void, reject })
      // With a callback, a channel that closes meanwhile fails this request, not the bench.
      child.send({ ...body, rid }, (error) => {
        if (!error) return
        pending.delete(rid)
        reject(error)
      })
    })
  return {
    kind,
    url: `ws://127.0.0.1:${port}`,
    pid: child.pid!,
    kill: (signal) => {
      child.kill(signal)
    },
    request,
    memory: () => request<MemorySample>({ op: 'memory' }),
    loop: () => request<LoopSample>({ op: 'loop' }),
    cpu: () => request<NodeJS.CpuUsage>({ op: 'cpu' }),
    metrics: async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text(),
    conversations: async (rooms) => {
      if (kind === 'ticks') await request({ op: 'conversations', rooms })
    },
    async close() {
      if (!gone()) await Promise.race([request({ op: 'close' }).catch(() => undefined), delay(10_000)])
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
      await exited
      clearTimeout(timer)
    },
  }
}

const tokens = new Map<string, string>()
/** A Ticks token for this user (an HS256 JWT with the bench server's secret); the baselines ignore it. */
export function tokenFor(userId: string): string {
  let token = tokens.get(userId)
  if (!token) {
    const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
    const body = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ sub: userId, iat: Math.floor(Date.now() / 1000) })}`
    token = `${body}.${createHmac('sha256', JWT_SECRET).update(body).digest('base64url')}`
    tokens.set(userId, token)
  }
  return token
}

/** CPU use between two `cpuUsage()` readings, in % of one core over `seconds`. */
export function cpuPercent(before: NodeJS.CpuUsage, after: NodeJS.CpuUsage, seconds: number): number {
  const micros = after.user - before.user + (after.system - before.system)
  return seconds > 0 ? micros / 1e4 / seconds : Number.NaN
}

export const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export async function until(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  stepMs = 5,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) return false
    await delay(stepMs)
  }
  return true
}

import { performance } from 'node:perf_hooks'
import { type MessageRecord, messageKey, randomId, SERVER_ROOT, userRoot } from '@ticks/core'
import * as Y from 'yjs'
import type { LoopSample } from './server-host.js'
import { cpuPercent, type HostedServer, KINDS, LABEL, type ServerKind, startHosted } from './servers.js'
import { median, percentile, ratio, table } from './stats.js'
import { connectWire, type WireClient } from './wire.js'

/**
 * Fan-out: R rooms × 4 sockets, every socket a Y.Doc client writing chat messages. Per server, a
 * warm-up (not reported), then two phases of a bounded duration:
 * - steady: every writer sends `rate` messages/s (random phase); end-to-end latency (writer's
 *   send → each of the 3 other sockets' docs integrating it), and for Ticks time-to-`sent` (the
 *   message id appears in the order log on the writer, i.e. it was durably stored and stamped);
 * - saturated: closed loop, every writer keeps `window` messages in flight (sent, not yet seen by
 *   all 3 others); messages delivered per second is the server's throughput.
 * The whole thing runs `rounds` times, the servers in a rotated order each round (so none always
 * goes first, against a cold client process); the table shows the median over rounds.
 */

export interface FanoutOptions {
  rooms: number
  perRoom: number
  seconds: number
  warmupSeconds: number
  rate: number
  window: number
  rounds: number
}

export interface Outstanding {
  t0: number
  left: number
  writer: Writer
}

export interface Writer {
  room: string
  user: string
  /** Replaced by a new connection (same doc) when a scenario moves the writer to another node. */
  client: WireClient
  others: string[]
  inFlight: number
  /** Ticks: ids written and not yet seen in the order log. */
  unstamped: Set<string>
  /** Closed loop: called when one of this writer's messages reached every other socket. */
  onDone?: () => void
}

export interface Counters {
  deliveredInWindow: number
  windowOpen: boolean
  latencies: number[]
  sentLatencies: number[]
}

export const newCounters = (): Counters => ({
  deliveredInWindow: 0,
  windowOpen: false,
  latencies: [],
  sentLatencies: [],
})

/**
 * Counters read just before and just after a phase's window (store commits from /metrics, CPU of
 * other processes, …): the phase reports what each grew by.
 */
export type Probe = () => Promise<Record<string, number>>

/** Ticks' store commits: commits, their summed latency, and the updates (and stamps) they held. */
export const PERSIST_COUNTERS = [
  'ticks_persist_seconds_count',
  'ticks_persist_seconds_sum',
  'ticks_persisted_updates_total',
]

export interface PhaseResult {
  latencies: number[]
  sentLatencies: number[]
  /** Messages written inside the phase's window. */
  written: number
  /** Deliveries (message × receiving socket) inside the phase's window. */
  delivered: number
  /** Deliveries still missing after the drain. */
  lost: number
  seconds: number
  closed: number
  /** The server process's event-loop delay during the phase (the worst of several servers'). */
  loop: LoopSample
  /** What the phase's probe counters grew by (Ticks: store commits, from /metrics). */
  probed: Record<string, number>
  /**
   * CPU use during the phase, % of one core: the bench process (all clients) and the server's
   * (the sum over several server processes).
   */
  cpu: { client: number; server: number }
}

export type Mode = { kind: 'steady'; rate: number } | { kind: 'closed'; window: number }

/**
 * One phase of load on `servers` (one, or several nodes serving the same rooms); the CPU, loop
 * delay and /metrics figures are those of these servers (leave out one that is meant to die).
 */
export async function runPhase(
  servers: HostedServer[],
  writers: Writer[],
  pending: Map<string, Outstanding>,
  counters: Counters,
  mode: Mode,
  seconds: number,
  probe: Probe = metricsProbe(servers, PERSIST_COUNTERS),
): Promise<PhaseResult> {
  const ticks = servers[0]!.kind === 'ticks'
  counters.latencies = []
  counters.sentLatencies = []
  counters.deliveredInWindow = 0
  const probedBefore = await probe()
  await Promise.all(servers.map((server) => server.loop())) // resets the servers' event-loop histograms
  const serverCpu = await totalCpu(servers)
  const clientCpu = process.cpuUsage()
  let running = true
  let counter = 0
  const write = (writer: Writer) => {
    if (!running || writer.client.closed) return
    const id = randomId()
    const record: MessageRecord = {
      id,
      text: `message ${counter++} from ${writer.user}: the quick brown fox`,
      createdAt: Date.now(),
      to: writer.others,
    }
    pending.set(id, { t0: performance.now(), left: writer.others.length, writer })
    writer.inFlight++
    if (ticks) writer.unstamped.add(id)
    writer.client.doc.getMap(userRoot(writer.user)).set(messageKey(id), record)
  }
  const timers: NodeJS.Timeout[] = []
  const start = performance.now()
  counters.windowOpen = true
  if (mode.kind === 'steady') {
    const period = 1000 / mode.rate
    for (const writer of writers) {
      timers.push(
        setTimeout(() => {
          write(writer)
          timers.push(setInterval(() => write(writer), period))
        }, Math.random() * period),
      )
    }
  } else {
    for (const writer of writers) {
      writer.onDone = () => {
        while (running && writer.inFlight < mode.window) write(writer)
      }
      for (let i = 0; i < mode.window; i++) write(writer)
    }
  }
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
  running = false
  counters.windowOpen = false
  const elapsed = (performance.now() - start) / 1000
  const delivered = counters.deliveredInWindow
  const written = counter
  const clientCpuAfter = process.cpuUsage()
  const serverCpuAfter = await totalCpu(servers)
  for (const timer of timers) {
    clearTimeout(timer)
    clearInterval(timer)
  }
  const loops = await Promise.all(servers.map((server) => server.loop()))
  const probedAfter = await probe()
  // Drain: wait (bounded) for what is in flight, so latencies include the slow tail.
  const drainUntil = Date.now() + 5000
  while (Date.now() < drainUntil) {
    const stillOut = [...pending.values()].some((entry) => entry.left > 0)
    const unstamped = mode.kind === 'steady' && writers.some((w) => w.unstamped.size > 0)
    if (!stillOut && !unstamped) break
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  const lost = [...pending.values()].reduce((sum, entry) => sum + entry.left, 0)
  pending.clear()
  for (const writer of writers) {
    writer.inFlight = 0
    writer.unstamped.clear()
    writer.onDone = undefined
  }
  return {
    latencies: counters.latencies,
    sentLatencies: counters.sentLatencies,
    written,
    delivered,
    lost,
    seconds: elapsed,
    closed: writers.filter((w) => w.client.closed).length,
    loop: {
      p50: Math.max(...loops.map((loop) => loop.p50)),
      p99: Math.max(...loops.map((loop) => loop.p99)),
      max: Math.max(...loops.map((loop) => loop.max)),
    },
    probed: Object.fromEntries(
      Object.entries(probedAfter).map(([name, value]) => [name, value - (probedBefore[name] ?? 0)]),
    ),
    cpu: {
      client: cpuPercent(clientCpu, clientCpuAfter, elapsed),
      server: cpuPercent(serverCpu, serverCpuAfter, elapsed),
    },
  }
}

interface FanoutResult {
  kind: ServerKind
  steady: PhaseResult
  saturated: PhaseResult
}

async function fanoutOne(kind: ServerKind, options: FanoutOptions): Promise<FanoutResult> {
  const server = await startHosted(kind)
  try {
    const rooms = Array.from({ length: options.rooms }, (_, r) => ({
      id: `fan-${r}`,
      members: Array.from({ length: options.perRoom }, (_, k) => `r${r}-u${k}`),
    }))
    await server.conversations(rooms)
    const pending = new Map<string, Outstanding>()
    const counters = newCounters()
    const writers = rooms.flatMap((room) =>
      room.members.map((user) => connectWriter(kind, server.url, room, user, pending, counters)),
    )
    await allSynced(writers)
    await new Promise((resolve) => setTimeout(resolve, 300))
    const steadyMode: Mode = { kind: 'steady', rate: options.rate }
    if (options.warmupSeconds > 0) {
      // JIT warm-up of both processes, at the steady rate; not reported.
      await runPhase([server], writers, pending, counters, steadyMode, options.warmupSeconds)
    }
    const steady = await runPhase([server], writers, pending, counters, steadyMode, options.seconds)
    const saturated = await runPhase(
      [server],
      writers,
      pending,
      counters,
      { kind: 'closed', window: options.window },
      options.seconds,
    )
    await Promise.all(writers.map((w) => w.client.close()))
    return { kind, steady, saturated }
  } finally {
    await server.close()
  }
}

/**
 * A socket of `user` in `room`, a Y.Doc client writing chat messages: each message it writes is
 * `pending` until every other member's doc integrated it (then its latency is in `counters`), and,
 * on Ticks, in `unstamped` until its id appears in the order log on this writer.
 */
export function connectWriter(
  kind: ServerKind,
  url: string,
  room: { id: string; members: string[] },
  user: string,
  pending: Map<string, Outstanding>,
  counters: Counters,
): Writer {
  const doc = new Y.Doc({ guid: room.id })
  const writer: Writer = {
    room: room.id,
    user,
    client: connectWire(kind, url, room.id, user, doc),
    others: room.members.filter((u) => u !== user),
    inFlight: 0,
    unstamped: new Set(),
  }
  doc.on('afterTransaction', (transaction: Y.Transaction) => {
    if (transaction.local) return
    const now = performance.now()
    for (const [type, keys] of transaction.changed) {
      for (const key of keys) {
        // A key that changed and is gone was sealed out of the live window (issue 15), not delivered.
        if (key === null || !key.startsWith('m|') || (type._map.get(key)?.deleted ?? true)) continue
        const entry = pending.get(key.slice(2))
        if (!entry || entry.writer === writer) continue
        entry.left--
        if (counters.windowOpen) counters.deliveredInWindow++
        counters.latencies.push(now - entry.t0)
        if (entry.left === 0) {
          entry.writer.inFlight--
          entry.writer.onDone?.()
        }
      }
    }
  })
  // Ticks: the order log, appended by the sequencer only after the store committed.
  doc.getArray<string>(SERVER_ROOT).observe((event) => {
    const now = performance.now()
    for (const change of event.changes.delta) {
      for (const id of (change.insert as string[] | undefined) ?? []) {
        if (!writer.unstamped.delete(id)) continue
        const entry = pending.get(id)
        if (entry) counters.sentLatencies.push(now - entry.t0)
      }
    }
  })
  return writer
}

/** Wait for every writer's first sync, 50 at a time (the handshake is not what is measured), then settle. */
export async function allSynced(writers: Writer[]): Promise<void> {
  for (let i = 0; i < writers.length; i += 50) {
    await Promise.all(writers.slice(i, i + 50).map((w) => w.client.synced))
  }
  await new Promise((resolve) => setTimeout(resolve, 300))
}

/** The sum over `servers` of these /metrics counters (a name with `{…}` picks one labelled series). */
export function metricsProbe(servers: HostedServer[], names: string[]): Probe {
  return async () => {
    if (servers[0]?.kind !== 'ticks') return {}
    const texts = await Promise.all(servers.map((server) => server.metrics()))
    return Object.fromEntries(
      names.map((name) => [name, texts.reduce((sum, text) => sum + metricValue(text, name), 0)]),
    )
  }
}

/** A counter's value in Prometheus text: one series, or the sum of all of a name's series. */
export function metricValue(text: string, name: string): number {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const series = name.includes('{') ? escaped : `${escaped}(?:\\{[^}]*\\})?`
  let sum = 0
  for (const match of text.matchAll(new RegExp(`^${series} (\\S+)$`, 'gm'))) sum += Number(match[1])
  return sum
}

async function totalCpu(servers: HostedServer[]): Promise<NodeJS.CpuUsage> {
  const usages = await Promise.all(servers.map((server) => server.cpu()))
  return usages.reduce((sum, usage) => ({ user: sum.user + usage.user, system: sum.system + usage.system }), {
    user: 0,
    system: 0,
  })
}

/** The per-round numbers the table reports (each the median over rounds). */
function metricsOf(result: FanoutResult) {
  const { steady, saturated } = result
  return {
    steadyP50: percentile(steady.latencies, 50),
    steadyP99: percentile(steady.latencies, 99),
    steadyRate: steady.delivered / steady.seconds,
    sentP50: percentile(steady.sentLatencies, 50),
    sentP99: percentile(steady.sentLatencies, 99),
    maxRate: saturated.delivered / saturated.seconds,
    loadedP50: percentile(saturated.latencies, 50),
    loadedP99: percentile(saturated.latencies, 99),
    loopSteady: steady.loop.p99,
    loopLoaded: saturated.loop.p99,
    serverCpuSteady: steady.cpu.server,
    serverCpuLoaded: saturated.cpu.server,
    clientCpuLoaded: saturated.cpu.client,
    /** Server CPU time per delivery under load, µs: independent of where the clients' ceiling is. */
    serverMicrosPerDelivery: (saturated.cpu.server * 1e4) / (saturated.delivered / saturated.seconds),
  }
}
type Metric = keyof ReturnType<typeof metricsOf>

export async function runFanout(options: FanoutOptions): Promise<string> {
  const byKind = new Map<ServerKind, FanoutResult[]>(KINDS.map((kind) => [kind, []]))
  for (let round = 0; round < options.rounds; round++) {
    const order = [...KINDS.slice(round % KINDS.length), ...KINDS.slice(0, round % KINDS.length)]
    for (const kind of order) byKind.get(kind)!.push(await fanoutOne(kind, options))
  }
  const med = (kind: ServerKind, metric: Metric) =>
    median(byKind.get(kind)!.map((result) => metricsOf(result)[metric]))
  const isTicks = (kind: ServerKind) => kind === 'ticks'
  const rows: (string | number)[][] = []
  for (const kind of KINDS) {
    const results = byKind.get(kind)!
    const lost = results.reduce((sum, r) => sum + r.steady.lost + r.saturated.lost, 0)
    const closed = results.reduce((sum, r) => sum + r.steady.closed + r.saturated.closed, 0)
    rows.push([
      LABEL[kind],
      med(kind, 'steadyP50'),
      med(kind, 'steadyP99'),
      med(kind, 'steadyRate'),
      isTicks(kind) ? med(kind, 'sentP50') : '—',
      isTicks(kind) ? med(kind, 'sentP99') : '—',
      med(kind, 'maxRate'),
      med(kind, 'loadedP50'),
      med(kind, 'loadedP99'),
      med(kind, 'loopSteady'),
      med(kind, 'loopLoaded'),
      med(kind, 'serverCpuSteady'),
      med(kind, 'serverCpuLoaded'),
      med(kind, 'clientCpuLoaded'),
      med(kind, 'serverMicrosPerDelivery'),
      `${lost}/${closed}`,
    ])
  }
  if (KINDS[0] === 'ticks') {
    for (const base of KINDS.slice(1)) {
      const r = (metric: Metric) => ratio(med('ticks', metric), med(base, metric))
      rows.push([
        `ratio Ticks / ${base}`,
        r('steadyP50'),
        r('steadyP99'),
        r('steadyRate'),
        '',
        '',
        r('maxRate'),
        r('loadedP50'),
        r('loadedP99'),
        r('loopSteady'),
        r('loopLoaded'),
        r('serverCpuSteady'),
        r('serverCpuLoaded'),
        '',
        r('serverMicrosPerDelivery'),
        '',
      ])
    }
  }
  const perRound = KINDS.map((kind) => [
    LABEL[kind],
    byKind
      .get(kind)!
      .map((result) => metricsOf(result).maxRate.toFixed(0))
      .join(' / '),
    byKind
      .get(kind)!
      .map((result) => metricsOf(result).steadyP99.toFixed(1))
      .join(' / '),
  ])
  const commitLine = (name: string, phases: PhaseResult[]) => {
    const total = (counter: string) => phases.reduce((sum, phase) => sum + (phase.probed[counter] ?? 0), 0)
    const [count, seconds, updates] = PERSIST_COUNTERS.map(total) as [number, number, number]
    if (count === 0) return ''
    const elapsed = phases.reduce((sum, phase) => sum + phase.seconds, 0)
    return `- ${name}: ${(count / elapsed).toFixed(0)} room commits/s, ${((seconds / count) * 1000).toFixed(2)} ms on average from a room's commit to durable, ${(updates / count).toFixed(1)} updates per room commit (commits overlap: those queued behind one on disk share the next transaction).`
  }
  const ticksResults = byKind.get('ticks') ?? []
  const sockets = options.rooms * options.perRoom
  return [
    table(
      `Fan-out: ${options.rooms} rooms × ${options.perRoom} sockets, ${options.seconds} s per phase, median of ${options.rounds} round(s) (steady: ${options.rate} msg/s per socket = ${sockets * options.rate} writes/s, ${sockets * options.rate * (options.perRoom - 1)} deliveries/s; saturated: closed loop, ${options.window} in flight per socket)`,
      [
        'server',
        'steady p50 ms',
        'steady p99 ms',
        'steady deliveries/s',
        'to `sent` p50 ms',
        'to `sent` p99 ms',
        'max deliveries/s',
        'loaded p50 ms',
        'loaded p99 ms',
        'server loop delay p99 ms, steady',
        'loaded',
        'server CPU %, steady',
        'loaded',
        'bench clients CPU %, loaded',
        'server CPU µs / delivery, loaded',
        'lost/closed',
      ],
      rows,
    ),
    table(
      'Fan-out, every round (spread)',
      ['server', 'max deliveries/s per round', 'steady p99 ms per round'],
      perRound,
    ),
    '',
    "Latency: writer send → the message is integrated in another socket's Y.Doc (one sample per receiver). Ticks broadcasts a client update only after the group commit that stores it is durable (by design, a few ms), so its delivery latency includes one store commit (an fsync on a worker thread); the baselines relay at once and persist nothing. `sent`: the message id appears in the order log on the writer, i.e. written and stamped in SQLite (WAL, synchronous=FULL, group commit per room) and the stamp broadcast. CPU: % of one core (the machine's 2 cores are shared by the server process and the bench process holding every client). lost/closed: deliveries missing 5 s after a phase, sockets closed by the server (all rounds). Goals: max deliveries/s ≥ 1.0× baseline; steady p99 < 20 ms.",
    commitLine(
      'Ticks steady',
      ticksResults.map((r) => r.steady),
    ),
    commitLine(
      'Ticks saturated',
      ticksResults.map((r) => r.saturated),
    ),
  ]
    .filter((line) => line !== undefined)
    .join('\n')
}

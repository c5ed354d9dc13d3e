import { performance } from 'node:perf_hooks'
import { SERVER_ROOT } from '@ticks/core'
import type * as Y from 'yjs'
import { type BenchServices, startServices } from './cluster-services.js'
import {
  allSynced,
  type Counters,
  connectWriter,
  type Mode,
  metricsProbe,
  metricValue,
  newCounters,
  type Outstanding,
  PERSIST_COUNTERS,
  type PhaseResult,
  type Probe,
  runPhase,
  type Writer,
} from './fanout.js'
import { type HostedServer, startHosted, until } from './servers.js'
import { median, percentile, ratio, table } from './stats.js'
import { connectWire } from './wire.js'

/**
 * Issue 13, several nodes: Ticks on 1 node against Ticks on 3 nodes (DESIGN section 10), both
 * over the same private PostgreSQL, the 3 nodes relaying through a private Redis. R rooms × 3
 * sockets, member k of every room on node k: on 3 nodes every delivery crosses nodes (written on
 * one, read on the two others); on 1 node the same sockets all meet in one process. Each round,
 * per layout, in a fresh database and fresh node processes: the fan-out phases (warm-up, steady,
 * saturated closed loop, as `fanout.ts` runs them), with the CPU of the nodes, of PostgreSQL and
 * of Redis, and the bytes Redis moved. Then, on 3 nodes only:
 * - Redis down: redis-server is SIGKILLed and the steady load goes on, so every delivery between
 *   nodes waits for a node's store poll; then Redis restarts, and the time until every node's
 *   relay is up again is taken;
 * - failover: under steady load, the node stamping a third of the rooms is SIGKILLed; per room it
 *   stamped, the time from the kill to the first stamp of a message written after it (the lease
 *   must expire, a survivor take it, catch up from the store and stamp). Its sockets reconnect to
 *   the survivors at once with their docs, as clients do; afterwards nothing may be missing and
 *   every room's order log must be the same on its sockets, with no id twice.
 */

export interface ClusterOptions {
  rooms: number
  seconds: number
  warmupSeconds: number
  /** Messages per second per socket in the steady phases. */
  rate: number
  /** Messages in flight per socket in the saturated phase. */
  window: number
  rounds: number
  /** The sequencer lease and its renewal (also how often the others try to take it), ms. */
  leaseMs: number
  renewMs: number
  /** Steady load after the owner is killed, s (the kill comes 1 s into the phase). */
  failoverSeconds: number
  /** Steady load with Redis down, s. */
  redisDownSeconds: number
}

type Layout = 1 | 3
const NODE_IDS = ['a', 'b', 'c'] as const
const MEMBERS = NODE_IDS.length
const LAYOUT_LABEL: Record<Layout, string> = {
  1: 'Ticks, 1 node (PostgreSQL)',
  3: 'Ticks, 3 nodes (PostgreSQL + Redis)',
}
const RELAYED_OUT = 'ticks_relay_messages_total{direction="out"}'
const CAUGHT_UP = 'ticks_catchup_entries_total'
const LEASE_CHANGES = 'ticks_lease_changes_total'
const COUNTERS = [...PERSIST_COUNTERS, RELAYED_OUT, CAUGHT_UP, LEASE_CHANGES]
const KILL_AFTER_MS = 1000

interface FailoverResult {
  /** Per room the killed node stamped: kill → first stamp of a message written after it, ms. */
  roomMs: number[]
  /** Rooms of the killed node in which no such stamp came within the phase. */
  unstamped: number
  /** Whether the lease of every room was still where it was taken (else the rooms are a guess). */
  ownershipKept: boolean
  phase: PhaseResult
  /** Rooms whose order logs differ between their sockets, or hold an id twice, after the drain. */
  diverged: number
  duplicated: number
}

interface RedisDownResult {
  phase: PhaseResult
  /** From starting redis-server again until every node's relay is connected, ms. */
  relayBackMs: number
}

interface LayoutResult {
  layout: Layout
  steady: PhaseResult
  saturated: PhaseResult
  /** 3 nodes: rooms each node stamps once every room opened (a / b / c). */
  leases?: number[]
  redisDown?: RedisDownResult
  failover?: FailoverResult
}

/** What one layout's socket sees: the writers, what is in flight, and the latencies. */
interface Load {
  servers: HostedServer[]
  writers: Writer[]
  pending: Map<string, Outstanding>
  counters: Counters
}

/** /metrics counters of the nodes, plus the CPU of PostgreSQL and Redis and Redis's bytes. */
function clusterProbe(servers: HostedServer[], services: BenchServices): Probe {
  const metrics = metricsProbe(servers, COUNTERS)
  return async () => {
    const [counters, bytes] = await Promise.all([metrics(), services.redisBytes()])
    const cpu = services.cpu()
    return {
      ...counters,
      postgresCpuMicros: cpu.postgres,
      redisCpuMicros: cpu.redis,
      ...(bytes && { redisBytesIn: bytes.in, redisBytesOut: bytes.out }),
    }
  }
}

async function runLayout(
  layout: Layout,
  services: BenchServices,
  options: ClusterOptions,
  round: number,
): Promise<LayoutResult> {
  const database = await services.postgres.createDatabase(`bench_${round}_${layout}`)
  const servers: HostedServer[] = []
  const writers: Writer[] = []
  try {
    const started = await Promise.allSettled(
      NODE_IDS.slice(0, layout).map((id) =>
        startHosted('ticks', {
          postgres: database,
          ...(layout > 1 && {
            node: { id, redis: services.redis.url, leaseMs: options.leaseMs, renewMs: options.renewMs },
          }),
        }),
      ),
    )
    for (const result of started) if (result.status === 'fulfilled') servers.push(result.value)
    for (const result of started) if (result.status === 'rejected') throw result.reason
    const rooms = Array.from({ length: options.rooms }, (_, r) => ({
      id: `cluster-${r}`,
      members: NODE_IDS.map((_, k) => `c${r}-u${k}`),
    }))
    await servers[0]!.conversations(rooms)
    const load: Load = { servers, writers, pending: new Map(), counters: newCounters() }
    const connect = (room: (typeof rooms)[number], k: number) => {
      const url = servers[k % servers.length]!.url
      const writer = connectWriter('ticks', url, room, room.members[k]!, load.pending, load.counters)
      writers.push(writer)
      return writer
    }
    // Room r opens first on node r % 3, which so takes its sequencer lease: each node stamps a
    // third of the rooms, and the rooms node a stamps (those the failover kills) are known.
    await allSynced(rooms.map((room, r) => connect(room, r % MEMBERS)))
    const leases = layout > 1 ? await settledLeases(servers, options.rooms) : undefined
    await allSynced(rooms.flatMap((room, r) => [1, 2].map((step) => connect(room, (r + step) % MEMBERS))))

    const probe = clusterProbe(servers, services)
    const steadyMode: Mode = { kind: 'steady', rate: options.rate }
    const phase = (mode: Mode, seconds: number) =>
      runPhase(servers, writers, load.pending, load.counters, mode, seconds, probe)
    if (options.warmupSeconds > 0) await phase(steadyMode, options.warmupSeconds)
    const steady = await phase(steadyMode, options.seconds)
    const saturated = await phase({ kind: 'closed', window: options.window }, options.seconds)
    if (layout === 1) return { layout, steady, saturated }
    const redisDown = await measureRedisDown(load, services, options)
    const failover = await measureFailover(load, rooms, options)
    return { layout, steady, saturated, leases, redisDown, failover }
  } finally {
    await Promise.all(writers.map((writer) => writer.client.close()))
    await Promise.all(servers.map((server) => server.close()))
  }
}

/** Each node's count of stamped rooms, once they add up to every room (or after 10 s). */
async function settledLeases(servers: HostedServer[], rooms: number): Promise<number[]> {
  let counts: number[] = []
  await until(
    async () => {
      const texts = await Promise.all(servers.map((server) => server.metrics()))
      counts = texts.map((text) => metricValue(text, 'ticks_sequencer_leases'))
      return counts.reduce((sum, count) => sum + count, 0) >= rooms
    },
    10_000,
    50,
  )
  return counts
}

async function measureRedisDown(
  load: Load,
  services: BenchServices,
  options: ClusterOptions,
): Promise<RedisDownResult> {
  const { servers, writers, pending, counters } = load
  await services.redis.stop('SIGKILL')
  const phase = await runPhase(
    servers,
    writers,
    pending,
    counters,
    { kind: 'steady', rate: options.rate },
    options.redisDownSeconds,
    clusterProbe(servers, services),
  )
  const restarted = performance.now()
  await services.redis.start()
  const back = await until(
    async () => {
      const texts = await Promise.all(servers.map((server) => server.metrics()))
      return texts.every((text) => metricValue(text, 'ticks_relay_connected') === 1)
    },
    15_000,
    20,
  )
  return { phase, relayBackMs: back ? performance.now() - restarted : Number.NaN }
}

async function measureFailover(
  load: Load,
  rooms: { id: string; members: string[] }[],
  options: ClusterOptions,
): Promise<FailoverResult> {
  const { servers, writers, pending, counters } = load
  const [victim, ...survivors] = servers as [HostedServer, ...HostedServer[]]
  // Every room's lease taken once, and never moved since: node a still stamps rooms 0, 3, 6, …
  const changes = await metricsProbe(servers, [LEASE_CHANGES])()
  const ownershipKept = changes[LEASE_CHANGES] === rooms.length
  const victimRooms = new Set(rooms.filter((_, r) => r % MEMBERS === 0).map((room) => room.id))
  let killedAt = Number.POSITIVE_INFINITY
  const firstStamp = new Map<string, number>()
  const observers = writers
    .filter((writer) => victimRooms.has(writer.room))
    .map((writer) => {
      const log = writer.client.doc.getArray<string>(SERVER_ROOT)
      const observer = (event: Y.YArrayEvent<string>) => {
        const now = performance.now()
        if (firstStamp.has(writer.room)) return
        for (const change of event.changes.delta) {
          for (const id of (change.insert as string[] | undefined) ?? []) {
            if ((pending.get(id)?.t0 ?? 0) > killedAt) {
              firstStamp.set(writer.room, now - killedAt)
              return
            }
          }
        }
      }
      log.observe(observer)
      return () => log.unobserve(observer)
    })
  const killer = setTimeout(() => {
    killedAt = performance.now()
    victim.kill('SIGKILL')
  }, KILL_AFTER_MS)
  // The killed node's sockets come back on the survivors with their docs, as clients do: what
  // they wrote that the dead node never stored goes again in their sync.
  let moved = 0
  const mover = setInterval(() => {
    for (const writer of writers) {
      if (!writer.client.closed) continue
      const { doc } = writer.client
      void writer.client.close()
      const url = survivors[moved++ % survivors.length]!.url
      writer.client = connectWire('ticks', url, writer.room, writer.user, doc)
    }
  }, 20)
  let phase: PhaseResult
  try {
    phase = await runPhase(
      survivors,
      writers,
      pending,
      counters,
      { kind: 'steady', rate: options.rate },
      KILL_AFTER_MS / 1000 + options.failoverSeconds,
      metricsProbe(survivors, COUNTERS),
    )
  } finally {
    clearTimeout(killer)
    clearInterval(mover)
    for (const off of observers) off()
  }
  const logsOf = (room: { id: string }) =>
    writers
      .filter((writer) => writer.room === room.id)
      .map((writer) => writer.client.doc.getArray<string>(SERVER_ROOT).toArray())
  const agree = (logs: string[][]) => logs.every((log) => log.join() === logs[0]!.join())
  await until(() => rooms.every((room) => agree(logsOf(room))), 5000, 50)
  return {
    roomMs: [...firstStamp.values()],
    unstamped: victimRooms.size - firstStamp.size,
    ownershipKept,
    phase,
    diverged: rooms.filter((room) => !agree(logsOf(room))).length,
    duplicated: rooms.filter((room) => logsOf(room).some((log) => new Set(log).size !== log.length)).length,
  }
}

/** The per-round figures of the main table (each shown as the median over rounds). */
function figuresOf(result: LayoutResult) {
  const { steady, saturated } = result
  const probed = saturated.probed
  const percentOfCore = (micros: number | undefined) => (micros ?? Number.NaN) / 1e4 / saturated.seconds
  const perDelivery = (micros: number | undefined) => (micros ?? Number.NaN) / saturated.delivered
  const clustered = result.layout > 1
  const commits = probed.ticks_persist_seconds_count ?? 0
  return {
    steadyP50: percentile(steady.latencies, 50),
    steadyP99: percentile(steady.latencies, 99),
    sentP50: percentile(steady.sentLatencies, 50),
    sentP99: percentile(steady.sentLatencies, 99),
    maxRate: saturated.delivered / saturated.seconds,
    loadedP50: percentile(saturated.latencies, 50),
    loadedP99: percentile(saturated.latencies, 99),
    nodesCpu: saturated.cpu.server,
    postgresCpu: percentOfCore(probed.postgresCpuMicros),
    redisCpu: clustered ? percentOfCore(probed.redisCpuMicros) : Number.NaN,
    clientCpu: saturated.cpu.client,
    /** Server CPU per delivery under load, µs: the nodes' (summed), then PostgreSQL's, Redis's. */
    nodesMicros: (saturated.cpu.server * 1e4) / (saturated.delivered / saturated.seconds),
    postgresMicros: perDelivery(probed.postgresCpuMicros),
    redisMicros: clustered ? perDelivery(probed.redisCpuMicros) : Number.NaN,
    commitsPerSecond: commits / saturated.seconds,
    commitMs: ((probed.ticks_persist_seconds_sum ?? 0) / commits) * 1000,
    /** A room's commit (updates and stamps) to durable in the steady phase, ms on average. */
    steadyCommitMs:
      ((steady.probed.ticks_persist_seconds_sum ?? 0) / (steady.probed.ticks_persist_seconds_count ?? 0)) *
      1000,
  }
}
type Figure = keyof ReturnType<typeof figuresOf>

/** The 3-node figures of the second table, per round. */
function clusterFiguresOf(result: LayoutResult) {
  const { saturated, redisDown, failover } = result
  const written = saturated.written
  return {
    redisInPerMessage: (saturated.probed.redisBytesIn ?? Number.NaN) / written,
    redisOutPerMessage: (saturated.probed.redisBytesOut ?? Number.NaN) / written,
    relayedPerMessage: (saturated.probed[RELAYED_OUT] ?? Number.NaN) / written,
    leaseChangesUnderLoad:
      (result.steady.probed[LEASE_CHANGES] ?? 0) + (saturated.probed[LEASE_CHANGES] ?? 0),
    failoverP50: percentile(failover?.roomMs ?? [], 50),
    failoverMax: percentile(failover?.roomMs ?? [], 100),
    downP50: percentile(redisDown?.phase.latencies ?? [], 50),
    downP99: percentile(redisDown?.phase.latencies ?? [], 99),
    downMax: percentile(redisDown?.phase.latencies ?? [], 100),
    downSentP50: percentile(redisDown?.phase.sentLatencies ?? [], 50),
    downSentMax: percentile(redisDown?.phase.sentLatencies ?? [], 100),
    downCaughtUpPerMessage:
      (redisDown?.phase.probed[CAUGHT_UP] ?? Number.NaN) / (redisDown?.phase.written ?? 0),
    relayBackMs: redisDown?.relayBackMs ?? Number.NaN,
  }
}
type ClusterFigure = keyof ReturnType<typeof clusterFiguresOf>

export async function runCluster(options: ClusterOptions): Promise<string> {
  const results: Record<Layout, LayoutResult[]> = { 1: [], 3: [] }
  const services = await startServices()
  try {
    for (let round = 0; round < options.rounds; round++) {
      // Alternate which layout runs first, so neither always meets a cold client process.
      const order: Layout[] = round % 2 === 0 ? [1, 3] : [3, 1]
      for (const layout of order) results[layout].push(await runLayout(layout, services, options, round))
    }
  } finally {
    await services.stop()
  }
  return report(results, options)
}

function report(results: Record<Layout, LayoutResult[]>, options: ClusterOptions): string {
  const med = (layout: Layout, figure: Figure) =>
    median(results[layout].map((result) => figuresOf(result)[figure]))
  const lostClosed = (layout: Layout) => {
    const phases = results[layout].flatMap((result) => [result.steady, result.saturated])
    return `${phases.reduce((sum, phase) => sum + phase.lost, 0)}/${phases.reduce((sum, phase) => sum + phase.closed, 0)}`
  }
  const figures: Figure[] = [
    'steadyP50',
    'steadyP99',
    'steadyCommitMs',
    'sentP50',
    'sentP99',
    'maxRate',
    'loadedP50',
    'loadedP99',
    'nodesCpu',
    'postgresCpu',
    'redisCpu',
    'clientCpu',
    'nodesMicros',
    'postgresMicros',
    'redisMicros',
    'commitsPerSecond',
    'commitMs',
  ]
  const layouts: Layout[] = [1, 3]
  const rows: (string | number)[][] = [
    ...layouts.map((layout) => [
      LAYOUT_LABEL[layout],
      ...figures.map((figure) => (layout === 1 && figure.startsWith('redis') ? '—' : med(layout, figure))),
      lostClosed(layout),
    ]),
    [
      'ratio 3 nodes / 1 node',
      ...figures.map((figure) => (figure.startsWith('redis') ? '' : ratio(med(3, figure), med(1, figure)))),
      '',
    ],
  ]
  const sockets = options.rooms * MEMBERS
  const main = table(
    `Cluster: ${options.rooms} rooms × ${MEMBERS} sockets (on 3 nodes, member k of every room on node k), ${options.seconds} s per phase, median of ${options.rounds} round(s) (steady: ${options.rate} msg/s per socket = ${sockets * options.rate} writes/s, ${sockets * options.rate * (MEMBERS - 1)} deliveries/s; saturated: closed loop, ${options.window} in flight per socket)`,
    [
      'layout',
      'steady p50 ms',
      'steady p99 ms',
      'steady ms / commit',
      'to `sent` p50 ms',
      'to `sent` p99 ms',
      'max deliveries/s',
      'loaded p50 ms',
      'loaded p99 ms',
      'nodes CPU %, loaded',
      'PostgreSQL CPU %',
      'Redis CPU %',
      'bench clients CPU %',
      'nodes CPU µs / delivery',
      'PostgreSQL µs / delivery',
      'Redis µs / delivery',
      'store commits/s, loaded',
      'loaded ms / commit',
      'lost/closed',
    ],
    rows,
  )

  const three = results[3]
  const perRound = (figure: ClusterFigure, digits = 0) =>
    three.map((result) => clusterFiguresOf(result)[figure].toFixed(digits)).join(' / ')
  const med3 = (figure: ClusterFigure) => median(three.map((result) => clusterFiguresOf(result)[figure]))
  const failovers = three.flatMap((result) => (result.failover ? [result.failover] : []))
  const failoverRooms = failovers.reduce((sum, failover) => sum + failover.roomMs.length, 0)
  const p99Ratio = med(3, 'steadyP99') / med(1, 'steadyP99')
  const failoverGoal = options.leaseMs + 2000
  const clusterRows: (string | number)[][] = [
    [
      'Redis bytes received per message written, saturated',
      med3('redisInPerMessage'),
      perRound('redisInPerMessage'),
      '',
    ],
    [
      'Redis bytes sent per message written, saturated',
      med3('redisOutPerMessage'),
      perRound('redisOutPerMessage'),
      '',
    ],
    [
      'relay frames published per message written',
      med3('relayedPerMessage'),
      perRound('relayedPerMessage', 2),
      '',
    ],
    [
      'rooms each node stamps (a / b / c)',
      '',
      three.map((result) => (result.leases ?? []).join('-')).join(' / '),
      '',
    ],
    [
      'leases that changed hands in steady + saturated',
      med3('leaseChangesUnderLoad').toFixed(0),
      perRound('leaseChangesUnderLoad'),
      '0',
    ],
    [
      `failover ms: SIGKILL of node a → first stamp of a later message, median over its rooms (lease ${options.leaseMs} ms, renewed every ${options.renewMs} ms)`,
      med3('failoverP50'),
      perRound('failoverP50'),
      `≤ ${failoverGoal}`,
    ],
    ['failover ms, slowest room', med3('failoverMax'), perRound('failoverMax'), `≤ ${failoverGoal}`],
    [
      'failover: rooms with no new stamp / lost deliveries / rooms whose order logs differ / hold an id twice',
      '',
      failovers
        .map(
          (f) =>
            `${f.unstamped}/${f.phase.lost}/${f.diverged}/${f.duplicated}${f.ownershipKept ? '' : ' (leases had moved)'}`,
        )
        .join(' / '),
      '0/0/0/0',
    ],
    ['Redis down: delivery between nodes p50 ms', med3('downP50'), perRound('downP50'), ''],
    ['Redis down: delivery between nodes p99 ms', med3('downP99'), perRound('downP99'), '≤ 1000'],
    ['Redis down: delivery between nodes, slowest ms', med3('downMax'), perRound('downMax'), '≤ 1000'],
    ['Redis down: to `sent` p50 ms', med3('downSentP50'), perRound('downSentP50'), ''],
    ['Redis down: to `sent`, slowest ms', med3('downSentMax'), perRound('downSentMax'), ''],
    [
      'Redis down: store entries read by catch-up per message written',
      med3('downCaughtUpPerMessage'),
      perRound('downCaughtUpPerMessage', 1),
      '',
    ],
    [
      'Redis down: lost deliveries',
      median(three.map((result) => result.redisDown?.phase.lost ?? Number.NaN)).toFixed(0),
      three.map((result) => result.redisDown?.phase.lost ?? '—').join(' / '),
      '0',
    ],
    ['Redis restarted → every node relays again, ms', med3('relayBackMs'), perRound('relayBackMs'), ''],
  ]
  const cluster = table(
    `Cluster, 3 nodes: relay, failover, Redis down (median and every round; failover and Redis down under the steady load, ${options.rate} msg/s per socket)`,
    ['figure', 'median', 'per round', 'goal'],
    clusterRows,
  )
  const verdict = (met: boolean) => (met ? 'met' : 'NOT met')
  const goals = table(
    'Cluster goals',
    ['goal', 'measured', 'met?'],
    [
      [
        "cross-node steady p99 ≤ 2× the single node's",
        `${med(3, 'steadyP99').toFixed(1)} ms vs ${med(1, 'steadyP99').toFixed(1)} ms: ${p99Ratio.toFixed(2)}×`,
        verdict(p99Ratio <= 2),
      ],
      [
        `failover ≤ lease + 2 s (${failoverGoal} ms)`,
        `slowest room ${med3('failoverMax').toFixed(0)} ms (per round ${perRound('failoverMax')}; ${failoverRooms} rooms in all), median room ${med3('failoverP50').toFixed(0)} ms`,
        verdict(med3('failoverMax') <= failoverGoal && failovers.every((f) => f.unstamped === 0)),
      ],
      [
        'Redis down: delivery through PostgreSQL within 1 s',
        `slowest delivery ${med3('downMax').toFixed(0)} ms (per round ${perRound('downMax')}), p99 ${med3('downP99').toFixed(0)} ms, p50 ${med3('downP50').toFixed(0)} ms`,
        verdict(med3('downMax') <= 1000),
      ],
    ],
  )
  const spread = table(
    'Cluster, every round (spread)',
    ['layout', 'steady p99 ms per round', 'max deliveries/s per round', 'nodes CPU µs / delivery per round'],
    layouts.map((layout) => [
      LAYOUT_LABEL[layout],
      ...(['steadyP99', 'maxRate', 'nodesMicros'] as const).map((figure) =>
        results[layout].map((result) => figuresOf(result)[figure].toFixed(0)).join(' / '),
      ),
    ]),
  )
  return [
    main,
    spread,
    cluster,
    goals,
    '',
    `Latency: writer's send → the message integrated in another socket's Y.Doc; on 3 nodes every delivery crosses nodes (written on one, committed to PostgreSQL there, published on Redis, applied and sent by the reader's node). \`sent\`: the id appears in the writer's order log, stamped by the node holding the conversation's lease (on 3 nodes two thirds of the writers are not on it: two commits and two relay hops). CPU: % of one core, over the saturated phase; the nodes' CPU is summed over their processes; PostgreSQL's is the postmaster's and its backends' (from /proc); all of it shares the machine's cores with the bench process holding every client. Redis bytes: INFO stats total_net_input_bytes / total_net_output_bytes. lost/closed: deliveries missing 5 s after a phase, sockets closed by a server (steady and saturated phases, all rounds).`,
  ].join('\n')
}

import { performance } from 'node:perf_hooks'
import { type MessageRecord, messageKey, randomId, SERVER_ROOT, userRoot } from '@ticks/core'
import * as Y from 'yjs'
import type { LoopSample } from './server-host.js'
import { type HostedServer, KINDS, LABEL, type ServerKind, startHosted } from './servers.js'
import { percentile, ratio, table } from './stats.js'
import { connectWire, type WireClient } from './wire.js'

/**
 * Issue 3, fan-out: R rooms × 4 sockets, every socket a Y.Doc client writing chat messages. Two
 * phases per server, each of a bounded duration:
 * - steady: every writer sends `rate` messages/s (random phase); end-to-end latency (writer's
 *   send → each of the 3 other sockets' docs integrating it), and for Ticks time-to-`sent` (the
 *   message id appears in the order log on the writer, i.e. it was durably stored and stamped);
 * - saturation: closed loop, every writer keeps `window` messages in flight (sent, not yet seen by
 *   all 3 others); messages delivered per second is the server's throughput.
 */

export interface FanoutOptions {
  rooms: number
  perRoom: number
  seconds: number
  rate: number
  window: number
}

interface Outstanding {
  t0: number
  left: number
  writer: Writer
  measured: boolean
}

interface Writer {
  user: string
  room: number
  client: WireClient
  others: string[]
  inFlight: number
  sentSeq: Map<string, number>
}

interface PhaseResult {
  latencies: number[]
  sentLatencies: number[]
  delivered: number
  expected: number
  seconds: number
  closed: number
  /** The server process's event-loop delay during the phase. */
  loop?: LoopSample
  /** Ticks: store commits during the phase (from /metrics). */
  commits?: { count: number; seconds: number; updates: number }
}

async function runPhase(
  writers: Writer[],
  pending: Map<string, Outstanding>,
  counters: {
    delivered: number
    deliveredInWindow: number
    windowOpen: boolean
    latencies: number[]
    sentLatencies: number[]
  },
  mode: { kind: 'steady'; rate: number } | { kind: 'closed'; window: number },
  seconds: number,
): Promise<PhaseResult> {
  counters.latencies = []
  counters.sentLatencies = []
  counters.deliveredInWindow = 0
  let expected = 0
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
    pending.set(id, { t0: performance.now(), left: writer.others.length, writer, measured: true })
    expected += writer.others.length
    writer.inFlight++
    writer.sentSeq.set(id, 0)
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
      ;(writer as Writer & { onDone?: () => void }).onDone = () => {
        while (running && writer.inFlight < mode.window) write(writer)
      }
      for (let i = 0; i < mode.window; i++) write(writer)
    }
  }
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
  running = false
  counters.windowOpen = false
  const elapsed = (performance.now() - start) / 1000
  const deliveredInWindow = counters.deliveredInWindow
  for (const timer of timers) {
    clearTimeout(timer)
    clearInterval(timer)
  }
  // Drain: wait (bounded) for what is in flight, so latencies include the slow tail.
  const drainUntil = Date.now() + 5000
  while (Date.now() < drainUntil) {
    const stillOut = [...pending.values()].some((entry) => entry.left > 0)
    const unstamped = writers.some((w) => w.sentSeq.size > 0)
    if (!stillOut && (!unstamped || mode.kind === 'closed')) break
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  const missing = [...pending.values()].reduce((sum, entry) => sum + entry.left, 0)
  pending.clear()
  for (const writer of writers) {
    writer.inFlight = 0
    writer.sentSeq.clear()
  }
  return {
    latencies: counters.latencies,
    sentLatencies: counters.sentLatencies,
    delivered: deliveredInWindow,
    expected: expected - missing,
    seconds: elapsed,
    closed: writers.filter((w) => w.client.closed).length,
  }
}

export interface FanoutResult {
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
    const counters = {
      delivered: 0,
      deliveredInWindow: 0,
      windowOpen: false,
      latencies: [] as number[],
      sentLatencies: [] as number[],
    }
    const writers: Writer[] = []
    for (const [r, room] of rooms.entries()) {
      for (const user of room.members) {
        const doc = new Y.Doc({ guid: room.id })
        const client = connectWire(kind, server.url, room.id, user, doc)
        const writer: Writer = {
          user,
          room: r,
          client,
          others: room.members.filter((u) => u !== user),
          inFlight: 0,
          sentSeq: new Map(),
        }
        writers.push(writer)
        doc.on('afterTransaction', (transaction: Y.Transaction) => {
          if (transaction.local) return
          const now = performance.now()
          for (const keys of transaction.changed.values()) {
            for (const key of keys) {
              if (key === null || !key.startsWith('m|')) continue
              const entry = pending.get(key.slice(2))
              if (!entry || entry.writer === writer) continue
              entry.left--
              counters.delivered++
              if (counters.windowOpen) counters.deliveredInWindow++
              counters.latencies.push(now - entry.t0)
              if (entry.left === 0) {
                entry.writer.inFlight--
                ;(entry.writer as Writer & { onDone?: () => void }).onDone?.()
              }
            }
          }
        })
        // Ticks: the order log, appended by the sequencer only after the store committed.
        doc.getArray<string>(SERVER_ROOT).observe((event) => {
          const now = performance.now()
          for (const change of event.changes.delta) {
            for (const id of (change.insert as string[] | undefined) ?? []) {
              if (!writer.sentSeq.delete(id)) continue
              const entry = pending.get(id)
              if (entry) counters.sentLatencies.push(now - entry.t0)
            }
          }
        })
      }
    }
    // Connect in batches (the handshake is not what this scenario measures).
    for (let i = 0; i < writers.length; i += 50) {
      await Promise.all(writers.slice(i, i + 50).map((w) => w.client.synced))
    }
    await new Promise((resolve) => setTimeout(resolve, 300))
    const steady = await runPhase(
      writers,
      pending,
      counters,
      { kind: 'steady', rate: options.rate },
      options.seconds,
    )
    const saturated = await runPhase(
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

type Commits = NonNullable<PhaseResult['commits']>

async function persistCounters(server: HostedServer): Promise<Commits | undefined> {
  if (server.kind !== 'ticks') return undefined
  const text = await server.metrics()
  const value = (name: string) =>
    Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? 0)
  return {
    count: value('ticks_persist_seconds_count'),
    seconds: value('ticks_persist_seconds_sum'),
    updates: value('ticks_persisted_updates_total'),
  }
}

function difference(after: Commits | undefined, before: Commits | undefined): Commits | undefined {
  if (!after || !before) return undefined
  return {
    count: after.count - before.count,
    seconds: after.seconds - before.seconds,
    updates: after.updates - before.updates,
  }
}

export async function runFanout(options: FanoutOptions): Promise<string> {
  const results: FanoutResult[] = []
  for (const kind of KINDS) results.push(await fanoutOne(kind, options))
  const [ticks, ...baselines] = results as [FanoutResult, ...FanoutResult[]]
  const rows: (string | number)[][] = []
  for (const result of results) {
    const { steady, saturated } = result
    rows.push([
      LABEL[result.kind],
      percentile(steady.latencies, 50),
      percentile(steady.latencies, 99),
      steady.delivered / steady.seconds,
      result.kind === 'ticks' ? percentile(steady.sentLatencies, 50) : '—',
      result.kind === 'ticks' ? percentile(steady.sentLatencies, 99) : '—',
      saturated.delivered / saturated.seconds,
      percentile(saturated.latencies, 50),
      percentile(saturated.latencies, 99),
      steady.loop?.p99 ?? Number.NaN,
      saturated.loop?.p99 ?? Number.NaN,
      `${steady.expected + saturated.expected - steady.latencies.length - saturated.latencies.length}/${result.steady.closed + result.saturated.closed}`,
    ])
  }
  for (const base of baselines) {
    rows.push([
      `ratio Ticks / ${base.kind}`,
      ratio(percentile(ticks.steady.latencies, 50), percentile(base.steady.latencies, 50)),
      ratio(percentile(ticks.steady.latencies, 99), percentile(base.steady.latencies, 99)),
      ratio(ticks.steady.delivered / ticks.steady.seconds, base.steady.delivered / base.steady.seconds),
      '',
      '',
      ratio(
        ticks.saturated.delivered / ticks.saturated.seconds,
        base.saturated.delivered / base.saturated.seconds,
      ),
      ratio(percentile(ticks.saturated.latencies, 50), percentile(base.saturated.latencies, 50)),
      ratio(percentile(ticks.saturated.latencies, 99), percentile(base.saturated.latencies, 99)),
      '',
      '',
      '',
    ])
  }
  const sockets = options.rooms * options.perRoom
  const commitLine = (name: string, phase: PhaseResult) => {
    const c = phase.commits
    if (!c || c.count === 0) return ''
    return `${name}: ${c.count} store commits (${(c.count / phase.seconds).toFixed(0)}/s), ${((c.seconds / c.count) * 1000).toFixed(2)} ms each on average, ${(c.updates / c.count).toFixed(1)} updates per commit; the synchronous commits held the server's event loop ${((c.seconds / phase.seconds) * 100).toFixed(0)}% of the phase.`
  }
  return [
    table(
      `Fan-out: ${options.rooms} rooms × ${options.perRoom} sockets, ${options.seconds} s per phase (steady: ${options.rate} msg/s per socket = ${sockets * options.rate} writes/s; saturated: closed loop, ${options.window} in flight per socket)`,
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
        'server loop delay p99 ms steady',
        'loaded',
        'lost/closed',
      ],
      rows,
    ),
    "\nLatency: writer send → the message is integrated in another socket's Y.Doc (one sample per receiver). `sent`: the message id appears in the order log on the writer, i.e. written and stamped in SQLite (WAL, synchronous=FULL, group commit) and the stamp broadcast. Baselines persist nothing. Goals (issue 3): max deliveries/s ≥ 1.0× baseline; steady p99 < 20 ms.",
  ].join('\n')
}

/**
 * `npm run soak` — not in CI. Two parts, 10 minutes in all by default:
 *
 * 1. **Simulator** (30 % of the time): random schedules on the in-memory network, seed after
 *    seed, checking the status laws and convergence; every failing seed is printed so it can be
 *    replayed with `createNetwork({ seed })`.
 * 2. **Real server** (the rest): `ticks-server` as a child process on SQLite in a temp dir, and
 *    rounds of 20 `@ticks/client`s (a fresh conversation each) through the chaos proxy under
 *    random traffic and faults — cuts, black holes, latency, drops, a slow link — with one
 *    `kill -9` + restart of the server per round; then heal, and check that every client holds
 *    every message as read with the same seq, that no client ever saw a status go down, and that
 *    no message seen as `sent` lost or changed its seq across the crashes.
 *
 * Options (flags, or env):
 *   --minutes N      TICKS_SOAK_MINUTES   total time (default 10); TICKS_SOAK_MS also works
 *   --only sim|real  TICKS_SOAK_ONLY      run one part only
 *   --seed N         TICKS_SOAK_SEED      first seed (default: from the clock)
 *   --clients N      TICKS_SOAK_CLIENTS   clients per real-server round (default 20)
 * From the root, `npm run soak -- --minutes 1` works too (see `option` below); `--only` does not get
 * through npm there: use TICKS_SOAK_ONLY.
 *
 * The real-server part runs `packages/server/dist/cli.js` when the build is current (after
 * `npm run build`), else the server's sources through tsx. Exit code 1 if anything failed.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createChaosProxy, createNetwork, createRandom, type Random } from '../src/index.js'
import {
  applyFault,
  convergenceGaps,
  type Fault,
  type Fleet,
  markAllRead,
  randomTraffic,
  startFleet,
  summarizeGaps,
} from '../test/helpers/fleet.js'
import { sleep, until } from '../test/helpers/http.js'
import { freePort, serverProcess } from '../test/helpers/server-process.js'

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    minutes: { type: 'string' },
    only: { type: 'string' },
    seed: { type: 'string' },
    clients: { type: 'string' },
  },
})
const env = process.env
/**
 * The flag, else the env var, else what npm made of it: through the root script (`npm run soak --
 * --minutes=1` runs `npm run soak -w packages/testkit --minutes=1`) the inner npm takes our flags
 * as its own config and hands them over as `npm_config_<name>`; `--minutes 1` (no `=`) arrives as
 * `npm_config_minutes=true` plus a positional `1`.
 */
const option = (flag: string | undefined, envName: string, npmName: string): string | undefined => {
  if (flag !== undefined) return flag
  if (env[envName]) return env[envName]
  const npm = env[`npm_config_${npmName}`]
  return npm === 'true' ? positionals.shift() : npm || undefined
}

const minutes = option(flags.minutes, 'TICKS_SOAK_MINUTES', 'minutes')
const DURATION_MS =
  minutes !== undefined ? Number(minutes) * 60_000 : Number(env.TICKS_SOAK_MS ?? 10 * 60_000)
// npm swallows `--only` (one of its own configs): from the root script, use TICKS_SOAK_ONLY.
const ONLY = option(flags.only, 'TICKS_SOAK_ONLY', 'soak_only')
const FIRST_SEED = Number(option(flags.seed, 'TICKS_SOAK_SEED', 'seed') ?? Date.now() % 1_000_000)
const CLIENTS = Number(option(flags.clients, 'TICKS_SOAK_CLIENTS', 'clients') ?? 20)
if (!(DURATION_MS > 0) || !(CLIENTS >= 2) || (ONLY !== undefined && ONLY !== 'sim' && ONLY !== 'real')) {
  console.error('usage: soak [--minutes N] [--only sim|real] [--seed N] [--clients N]')
  process.exit(2)
}
const SIM_SHARE = ONLY === 'sim' ? 1 : ONLY === 'real' ? 0 : 0.3

const started = Date.now()
const report: string[] = []
let failed = false

// ─── 1. Simulator ────────────────────────────────────────────────────────────────────────────

const DEVICES = [
  ['alice', 'd1'],
  ['alice', 'd2'],
  ['bob', 'd1'],
  ['carol', 'd1'],
] as const

async function simulatorSoak(durationMs: number): Promise<void> {
  const totals = { runs: 0, messages: 0, frames: 0, dropped: 0, resyncs: 0, simulatedMs: 0 }
  const failures: { seed: number; law: string; detail: string }[] = []
  const begun = Date.now()
  for (let seed = FIRST_SEED; Date.now() - begun < durationMs; seed++) {
    const random = createRandom(seed)
    const network = await createNetwork({
      seed,
      autoDeliver: random.chance(0.5),
      conversation: { members: { alice: 'owner', bob: 'member', carol: 'member' } },
    })
    try {
      const replicas = DEVICES.map(([user, device]) => network.replica(user, device))
      await network.settle()
      for (let step = 0; step < 60; step++) {
        const replica = random.pick(replicas)
        const roll = random.next()
        if (roll < 0.4) replica.send(`m${step}`)
        else if (roll < 0.55) replica.markRead()
        else if (roll < 0.6) network.isolate(replica)
        else if (roll < 0.65) network.heal()
        else if (roll < 0.7)
          network.faults({
            drop: random.pick([0, 0.1]),
            reorder: random.pick([0, 0.3]),
            duplicate: random.pick([0, 0.3]),
          })
        await network.run(random.int(0, 40))
      }
      network.heal()
      await network.settle()
      for (const replica of replicas) replica.markRead()
      await network.settle()
      network.assertConverged()
      network.assertLaws()
    } catch (error) {
      const violation = network.violations()[0]
      failures.push({
        seed,
        law: violation?.law ?? 'convergence',
        detail: (violation?.message ?? String(error)).split('\n').slice(0, 3).join(' '),
      })
    } finally {
      const stats = network.stats()
      totals.runs++
      totals.messages += network.room.index.order.length
      totals.frames += stats.framesSent
      totals.dropped += stats.framesDropped
      totals.resyncs += stats.resyncs
      totals.simulatedMs += stats.simulatedMs
      await network.close()
    }
  }
  const byLaw = failures.reduce<Record<string, number>>((counts, { law }) => {
    counts[law] = (counts[law] ?? 0) + 1
    return counts
  }, {})
  report.push(
    `simulator: ${seconds(Date.now() - begun)}, seeds ${FIRST_SEED}…${FIRST_SEED + totals.runs - 1}`,
    `  ${totals.runs} simulated runs, ${totals.messages} messages stamped, ${totals.frames} frames (${totals.dropped} dropped), ` +
      `${totals.resyncs} resyncs, ${(totals.simulatedMs / 1000).toFixed(0)} simulated s`,
    `  ${failures.length} failing runs ${JSON.stringify(byLaw)}`,
    ...failures.slice(0, 20).map((f) => `  seed ${f.seed} [${f.law}] ${f.detail}`),
  )
  if (failures.length > 0) failed = true
}

// ─── 2. Real server ──────────────────────────────────────────────────────────────────────────

/** Traffic step period: each step one client sends (60 %) or marks read. */
const TRAFFIC_MS = 20
const ROUND_CHAOS_MS = 40_000
const MIN_ROUND_CHAOS_MS = 8_000
const CONVERGE_WITHIN_MS = 60_000
const FAULTS: readonly Fault[] = ['cut', 'blackhole', 'latency', 'dropRate', 'slowLink']

interface RealTotals {
  rounds: number
  messages: number
  faults: Record<Fault | 'kill9', number>
  convergedMs: number[]
  statusDrops: string[]
  seqMoved: string[]
  lost: string[]
  failures: string[]
  proxy: {
    connectionsAccepted: number
    connectionsCut: number
    messagesForwarded: number
    messagesDropped: number
  }
  /** Server log lines by message: warnings and errors, plus the socket drops worth knowing. */
  serverLog: Record<string, number>
  serverStderr: string[]
}

async function realServerSoak(durationMs: number): Promise<void> {
  const begun = Date.now()
  const deadline = begun + durationMs
  const random = createRandom(FIRST_SEED)
  const totals: RealTotals = {
    rounds: 0,
    messages: 0,
    faults: { cut: 0, blackhole: 0, latency: 0, dropRate: 0, slowLink: 0, kill9: 0 },
    convergedMs: [],
    statusDrops: [],
    seqMoved: [],
    lost: [],
    failures: [],
    proxy: { connectionsAccepted: 0, connectionsCut: 0, messagesForwarded: 0, messagesDropped: 0 },
    serverLog: {},
    serverStderr: [],
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'ticks-soak-'))
  const port = await freePort()
  const server = serverProcess({
    port,
    dataDir,
    fromSources: 'if-stale',
    onLine: (line) => countServerLine(totals, line),
  })
  await server.start()
  const proxy = await createChaosProxy({ target: port, seed: FIRST_SEED })
  console.log(`soak: real server (${server.entry}) on SQLite in ${dataDir}, ${CLIENTS} clients per round`)
  let shutdownCode: number | null = null
  try {
    for (let round = 1; ; round++) {
      const left = deadline - Date.now()
      // The first round always runs (kill -9 included); later ones only if they fit.
      if (round > 1 && left < MIN_ROUND_CHAOS_MS + 5_000) break
      const chaosMs = Math.max(MIN_ROUND_CHAOS_MS, Math.min(ROUND_CHAOS_MS, left - 5_000))
      await realRound(round, chaosMs, random.fork(), { port, proxy, server, totals })
    }
  } finally {
    const stats = proxy.stats()
    totals.proxy = {
      connectionsAccepted: stats.connectionsAccepted,
      connectionsCut: stats.connectionsCut,
      messagesForwarded: stats.messagesForwarded,
      messagesDropped: stats.messagesDropped,
    }
    shutdownCode = await server.stop()
    await proxy.close()
    await rm(dataDir, { recursive: true, force: true })
  }

  const converged = [...totals.convergedMs].sort((a, b) => a - b)
  const faults = Object.entries(totals.faults)
    .map(([name, count]) => `${name} ${count}`)
    .join(', ')
  report.push(
    `real server: ${seconds(Date.now() - begun)}, seed ${FIRST_SEED}, ${totals.rounds} rounds of ${CLIENTS} clients (${server.entry}, SQLite)`,
    `  ${totals.messages} messages sent; faults: ${faults} (${totals.faults.kill9} server restarts)`,
    `  convergence after heal: ${
      converged.length > 0
        ? `median ${converged[Math.floor(converged.length / 2)]} ms, max ${converged.at(-1)} ms over ${converged.length} rounds`
        : 'never'
    }`,
    `  status drops observed: ${totals.statusDrops.length}; messages seen as sent whose seq moved: ${totals.seqMoved.length}; ` +
      `lost: ${totals.lost.length}`,
    `  proxy: ${totals.proxy.connectionsAccepted} connections accepted, ${totals.proxy.connectionsCut} cut, ` +
      `${totals.proxy.messagesForwarded} messages forwarded, ${totals.proxy.messagesDropped} dropped`,
    `  server log (warn+ and socket drops): ${JSON.stringify(totals.serverLog)}; SIGTERM at the end: exit ${shutdownCode}`,
    ...totals.serverStderr.slice(0, 5).map((line) => `  server stderr: ${line}`),
    ...totals.statusDrops.slice(0, 10).map((d) => `  status drop: ${d}`),
    ...totals.seqMoved.slice(0, 10).map((d) => `  seq moved: ${d}`),
    ...totals.failures.slice(0, 10).map((f) => `  FAILED ${f}`),
  )
  if (
    totals.failures.length > 0 ||
    totals.statusDrops.length > 0 ||
    totals.seqMoved.length > 0 ||
    totals.lost.length > 0 ||
    shutdownCode !== 0
  )
    failed = true
}

const NOTED_INFO = new Set(['dropped a socket that missed a heartbeat'])

function countServerLine(totals: RealTotals, line: string): void {
  if (line.trim() === '') return
  let entry: { level?: number; msg?: string }
  try {
    entry = JSON.parse(line) as typeof entry
  } catch {
    if (!line.includes('listening on')) totals.serverStderr.push(line.slice(0, 200))
    return
  }
  const msg = entry.msg ?? '?'
  if (msg.startsWith('DEV MODE')) return // expected: the soak gets its tokens from /api/session
  if ((entry.level ?? 0) >= 40 || NOTED_INFO.has(msg))
    totals.serverLog[msg] = (totals.serverLog[msg] ?? 0) + 1
}

async function realRound(
  round: number,
  chaosMs: number,
  random: Random,
  context: {
    port: number
    proxy: Awaited<ReturnType<typeof createChaosProxy>>
    server: ReturnType<typeof serverProcess>
    totals: RealTotals
  },
): Promise<void> {
  const { port, proxy, server, totals } = context
  const roundStart = Date.now()
  let fleet: Fleet | undefined
  const faults: Record<string, number> = {}
  try {
    fleet = await startFleet({ httpBase: `http://127.0.0.1:${port}`, url: proxy.url, size: CLIENTS })
    const members = fleet.members
    await until(
      'every client synced',
      () => members.every((m) => m.conversation.connection === 'synced'),
      30_000,
    )
    // The seq each author saw when its message first became `sent`: it must survive every crash.
    const firstSeq = new Map<string, number>()
    for (const member of members) {
      const unsequenced = new Set<string>()
      let seen = 0
      const index = member.conversation.conversationIndex
      member.conversation.onChange(() => {
        for (; seen < member.sentIds.length; seen++) unsequenced.add(member.sentIds[seen]!)
        for (const id of unsequenced) {
          const seq = index.seqOf(id)
          if (seq === undefined) continue
          unsequenced.delete(id)
          firstSeq.set(id, seq)
        }
      })
    }

    const traffic = randomTraffic(fleet, random.fork(), `r${round}`)
    const timer = setInterval(traffic, TRAFFIC_MS)
    const end = Date.now() + chaosMs
    const killAt = Date.now() + random.int(Math.floor(chaosMs * 0.3), Math.floor(chaosMs * 0.7))
    let killed = false
    const scripted: Fault[] = [...FAULTS]
    for (let i = scripted.length - 1; i > 0; i--) {
      const j = random.int(0, i)
      ;[scripted[i], scripted[j]] = [scripted[j]!, scripted[i]!]
    }
    try {
      // Until the end of the round, and never without its kill -9.
      while (Date.now() < end || !killed) {
        if (!killed && Date.now() >= killAt) {
          killed = true
          await server.kill()
          totals.faults.kill9++
          faults.kill9 = 1
          await sleep(random.int(100, 1_500))
          await server.start()
          continue
        }
        // Every kind of fault once per round, in a random order, then whatever the seed picks.
        const fault = scripted.shift() ?? random.pick(FAULTS)
        totals.faults[fault]++
        faults[fault] = (faults[fault] ?? 0) + 1
        await applyFault(proxy, fault, random, {
          cutMs: [50, 500],
          blackholeMs: [200, 3_000],
          latencyMs: [0, 200],
          jitterMs: [0, 100],
          dropRates: [0, 0.01, 0.05, 0.1],
          slowLink: { bytesPerSecond: [4_096, 16_384, 65_536], ms: [500, 3_000] },
        })
        await sleep(random.int(200, 1_000))
      }
    } finally {
      clearInterval(timer)
    }

    // Heal: a clean link from now on.
    proxy.restore()
    proxy.latency(0)
    proxy.dropRate(0)
    proxy.bandwidth(Number.POSITIVE_INFINITY)
    const sent = fleet.allSent()
    totals.messages += sent.length
    const convergedIn = await until(
      'every client to hold every message as read',
      () => {
        markAllRead(fleet!)
        return convergenceGaps(fleet!).length === 0
      },
      CONVERGE_WITHIN_MS,
      () =>
        `${summarizeGaps(convergenceGaps(fleet!))}\n  connections: ${members
          .map(
            (m) =>
              `${m.userId} ${m.conversation.connection}${m.conversation.stopped ? ` (stopped ${m.conversation.stopped.code})` : ''}`,
          )
          .join(', ')}`,
    )
    totals.convergedMs.push(convergedIn)
    totals.statusDrops.push(...members.flatMap((m) => m.drops.map((d) => `round ${round}: ${d}`)))
    const reference = members[0]!.conversation
    for (const [id, seq] of firstSeq) {
      const now = reference.message(id).seq
      if (now !== seq) totals.seqMoved.push(`round ${round}: ${id} was sent as seq ${seq}, now ${now}`)
    }
    const seqs = new Set(sent.map((id) => reference.message(id).seq))
    if (seqs.size !== sent.length)
      totals.lost.push(`round ${round}: ${sent.length} messages, ${seqs.size} seqs`)
    console.log(
      `  round ${round}: ${seconds(Date.now() - roundStart)}, ${sent.length} messages (${firstSeq.size} seen sent before heal), ` +
        `faults ${JSON.stringify(faults)}, converged ${convergedIn} ms after heal, ` +
        `status drops ${members.reduce((n, m) => n + m.drops.length, 0)}`,
    )
  } catch (error) {
    totals.failures.push(`round ${round}: ${String(error).slice(0, 2_000)}`)
    console.log(`  round ${round}: FAILED ${String(error).split('\n')[0]}`)
  } finally {
    totals.rounds++
    proxy.restore()
    proxy.latency(0)
    proxy.dropRate(0)
    proxy.bandwidth(Number.POSITIVE_INFINITY)
    await fleet?.close()
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(0)} s`
}

// ─── run ─────────────────────────────────────────────────────────────────────────────────────

const simMs = DURATION_MS * SIM_SHARE
if (simMs > 0) await simulatorSoak(simMs)
if (SIM_SHARE < 1) await realServerSoak(DURATION_MS - (Date.now() - started))

console.log(`soak: ${seconds(Date.now() - started)} in all`)
for (const line of report) console.log(line)
console.log(failed ? 'soak: FAILED' : 'soak: OK')
process.exit(failed ? 1 : 0)

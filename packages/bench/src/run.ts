import { availableParallelism, loadavg } from 'node:os'
import { runBounded } from './bounded.js'
import { runBrowserOpen } from './browser-open.js'
import { runCluster } from './cluster.js'
import { runColdLoad } from './cold-load.js'
import { runCoreStorage } from './core-storage.js'
import { runFanout } from './fanout.js'
import { runIdle } from './idle.js'
import { runManyConversations } from './many-conversations.js'
import { runSignatures } from './signatures.js'
import { runStorm } from './storm.js'

/**
 * `npm run bench`: every scenario, each printed beside the baselines measured in the same run.
 * Pass scenario names to run a subset: `npm run bench -- fanout`; `--quick` (or BENCH_QUICK=1)
 * runs small sizes for development.
 *
 * The root script is `npm run build && npm run bench -w packages/bench`, so npm appends the user's
 * arguments to the inner `npm run`: scenario names reach this process as arguments, but `--quick`
 * is taken by npm as a config flag and arrives only as `npm_config_quick=true`.
 */
const quick =
  process.argv.includes('--quick') ||
  process.env.BENCH_QUICK === '1' ||
  process.env.npm_config_quick === 'true'

/** No scenario may run longer than this (every load stops by itself well before). */
const SCENARIO_LIMIT_MS = (quick ? 5 : 20) * 60_000

const scenarios: Record<string, () => Promise<string> | string> = {
  core: () => runCoreStorage(quick ? 10_000 : 100_000).text,
  fanout: () =>
    runFanout(
      quick
        ? { rooms: 10, perRoom: 4, seconds: 2, warmupSeconds: 1, rate: 5, window: 2, rounds: 1 }
        : { rooms: 50, perRoom: 4, seconds: 8, warmupSeconds: 2, rate: 1, window: 2, rounds: 3 },
    ),
  idle: () => runIdle(quick ? 200 : 2000),
  many: () =>
    runManyConversations(
      quick
        ? { users: 20, perUser: 20, deliveries: 10, maxSockets: 12_000 }
        : { users: 100, perUser: 200, deliveries: 50, maxSockets: 12_000 },
    ),
  cold: () => runColdLoad(quick ? 10_000 : 100_000),
  signatures: () => runSignatures(quick ? 1_000 : 10_000),
  bounded: () => runBounded(quick ? [10_000] : [10_000, 100_000, 1_000_000]),
  browser: () => runBrowserOpen(quick ? [2_000] : [20_000]),
  storm: () =>
    runStorm(
      quick
        ? { title: 'Reconnect storm', rooms: 10, perRoom: 4, messages: 20, timeoutMs: 20_000, rounds: 1 }
        : { title: 'Reconnect storm', rooms: 50, perRoom: 4, messages: 100, timeoutMs: 60_000, rounds: 3 },
    ),
  // The same measurement without 200 clients competing for the bench machine's two cores: what one
  // room of people coming back online sees.
  reconnect: () =>
    runStorm({
      title: 'One room reconnects',
      rooms: 1,
      perRoom: 4,
      messages: quick ? 20 : 100,
      timeoutMs: 20_000,
      rounds: quick ? 1 : 7,
    }),
  // 1 node against 3 over the same PostgreSQL (+ Redis), then a dead Redis and a dead owner.
  cluster: () =>
    runCluster({
      ...(quick
        ? { rooms: 12, seconds: 2, warmupSeconds: 1, rate: 2, window: 2, rounds: 1 }
        : { rooms: 60, seconds: 8, warmupSeconds: 2, rate: 1, window: 2, rounds: 3 }),
      leaseMs: 2000,
      renewMs: 500,
      failoverSeconds: 5,
      redisDownSeconds: quick ? 3 : 6,
    }),
}

const wanted = process.argv.slice(2).filter((arg) => !arg.startsWith('-'))
const unknown = wanted.filter((name) => !(name in scenarios))
if (unknown.length > 0) {
  console.error(`unknown scenario ${unknown.join(', ')}; scenarios: ${Object.keys(scenarios).join(', ')}`)
  process.exit(2)
}
/** The machine's 1-minute load average: anything else running skews every number here. */
const load = () => `load average ${loadavg()[0]!.toFixed(2)} on ${availableParallelism()} cores`
console.log(
  `Ticks bench, ${new Date().toISOString().slice(0, 10)}, ${quick ? 'quick sizes' : 'full sizes'}, Node ${process.version}, ${load()} at the start`,
)
for (const [name, scenario] of Object.entries(scenarios)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue
  const started = performance.now()
  const watchdog = setTimeout(() => {
    // The server child processes exit when this process does (their IPC channel closes).
    console.error(`scenario ${name} exceeded ${SCENARIO_LIMIT_MS / 60_000} min: stopping the bench`)
    process.exit(1)
  }, SCENARIO_LIMIT_MS)
  console.log(await scenario())
  clearTimeout(watchdog)
  console.log(`\n(${name}: ${((performance.now() - started) / 1000).toFixed(0)} s, ${load()} at the end)`)
}
process.exit(0)

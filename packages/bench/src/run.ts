import { runColdLoad } from './cold-load.js'
import { runCoreStorage } from './core-storage.js'
import { runFanout } from './fanout.js'
import { runIdle } from './idle.js'
import { runStorm } from './storm.js'

/**
 * `npm run bench`: every scenario, each printed beside the baselines measured in the same run.
 * Pass scenario names to run a subset: `npm run bench -- fanout`; `--quick` (or BENCH_QUICK=1)
 * runs small sizes for development.
 */
const quick = process.argv.includes('--quick') || process.env.BENCH_QUICK === '1'

const scenarios: Record<string, () => Promise<string> | string> = {
  core: () => runCoreStorage(quick ? 10_000 : 100_000).text,
  fanout: () =>
    runFanout(
      quick
        ? { rooms: 10, perRoom: 4, seconds: 2, rate: 5, window: 2 }
        : { rooms: 50, perRoom: 4, seconds: 8, rate: 1, window: 2 },
    ),
  idle: () => runIdle(quick ? 200 : 2000),
  cold: () => runColdLoad(quick ? 10_000 : 100_000),
  storm: () =>
    runStorm(
      quick
        ? { rooms: 10, perRoom: 4, messages: 20, timeoutMs: 20_000 }
        : { rooms: 50, perRoom: 4, messages: 100, timeoutMs: 60_000 },
    ),
}

const wanted = process.argv.slice(2).filter((arg) => !arg.startsWith('-'))
for (const [name, scenario] of Object.entries(scenarios)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue
  console.log(await scenario())
}
process.exit(0)

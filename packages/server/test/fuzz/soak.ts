/**
 * `npm run soak -w packages/server` (and the root's `npm run soak`, after the testkit's soak): issue
 * 12's fuzz campaign for longer than `npm test` can afford, 10 minutes by default, then the same
 * checks as test/fuzz.test.ts. Prints progress, the summary line, each check, and exits 1 if
 * anything failed; replay with the printed seed.
 *
 * Options (flags, or env):
 *   --minutes N   TICKS_FUZZ_MINUTES   campaign length (default 10); TICKS_FUZZ_MS also works
 *   --seed N      TICKS_FUZZ_SEED      the seed (default: from the clock)
 * Through the root script, `npm run soak -- --minutes=1` reaches here as npm_config_minutes (the
 * inner npm takes the flag as its own config), like the testkit's soak.
 */
import { parseArgs } from 'node:util'
import { CHECKS } from './checks.js'
import { runCampaign } from './driver.js'
import { seedFromEnv } from './random.js'

const { values: flags } = parseArgs({
  allowPositionals: true,
  options: { minutes: { type: 'string' }, seed: { type: 'string' } },
})
const env = process.env
const minutes = flags.minutes ?? env.TICKS_FUZZ_MINUTES ?? npmConfig('minutes')
const durationMs = minutes !== undefined ? Number(minutes) * 60_000 : Number(env.TICKS_FUZZ_MS || 10 * 60_000)
const seedGiven = flags.seed ?? npmConfig('seed')
const seed = seedFromEnv(seedGiven !== undefined ? { TICKS_FUZZ_SEED: seedGiven } : env)
if (!(durationMs > 0)) {
  console.error('usage: soak [--minutes N] [--seed N]')
  process.exit(2)
}

console.log(
  `fuzz soak: ${Math.round(durationMs / 1000)} s, seed ${seed} (TICKS_FUZZ_SEED=${seed} replays it)`,
)
const campaign = await runCampaign({ durationMs, seed, log: (line) => console.log(`  ${line}`) })
console.log(campaign.summary)
let failed = false
try {
  for (const check of CHECKS) {
    const problems = await check.run(campaign).catch((error: Error) => [`the check threw: ${error.stack}`])
    failed ||= problems.length > 0
    console.log(`${problems.length === 0 ? '✓' : '✗'} ${check.name}`)
    for (const problem of problems) console.log(`    ${problem}`)
  }
} finally {
  await campaign.close()
}
console.log(failed ? `fuzz soak FAILED (seed ${seed})` : 'fuzz soak passed')
process.exit(failed ? 1 : 0)

/** A flag npm took as its own config on the way here (`npm run soak -- --minutes=1` from the root). */
function npmConfig(name: string): string | undefined {
  const value = env[`npm_config_${name}`]
  return value && value !== 'true' ? value : undefined
}

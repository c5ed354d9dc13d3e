import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CHECKS } from './fuzz/checks.js'
import { type Campaign, runCampaign } from './fuzz/driver.js'
import { seedFromEnv } from './fuzz/random.js'

/**
 * Issue 12: a member must not be able to break a conversation for everyone with crafted input.
 * A seeded campaign of hostile frames from mallory (structure-aware mutations of her own valid
 * updates, crafted huge clocks and lengths, forbidden writes, garbage, spoofed presence, the
 * issue's reproductions, and issue 16's and 17's entries: batches, announcements, signatures,
 * edits, deletions and reactions) against the real server on SQLite while alice and bob chat and
 * an admin announces; then the checks. Replay a failure with TICKS_FUZZ_SEED=<seed>; TICKS_FUZZ_MS sets the campaign's length.
 * `npm run soak` runs a longer one (test/fuzz/soak.ts).
 */
/**
 * One fixed seed unless TICKS_FUZZ_SEED says otherwise: CI replays the same campaign every time, so
 * a red run is the code's doing and replays as is; `npm run soak` draws a new seed each run to
 * explore further.
 */
const NPM_TEST_SEED = 20261204
const SEED = seedFromEnv({ TICKS_FUZZ_SEED: process.env.TICKS_FUZZ_SEED || String(NPM_TEST_SEED) })
const CAMPAIGN_MS = Number(process.env.TICKS_FUZZ_MS || 40_000)
/** The campaign, then the end of the chat and everyone reading (bounded waits), with slack on a busy machine. */
const SETUP_TIMEOUT_MS = CAMPAIGN_MS + 90_000
const CHECK_TIMEOUT_MS = 60_000

describe('fuzz: a hostile member against the real server (issue 12)', () => {
  let campaign: Campaign | undefined

  beforeAll(async () => {
    campaign = await runCampaign({ durationMs: CAMPAIGN_MS, seed: SEED })
    console.log(campaign.summary)
  }, SETUP_TIMEOUT_MS)

  afterAll(async () => {
    await campaign?.close()
  }, CHECK_TIMEOUT_MS)

  for (const check of CHECKS) {
    it(check.name, { timeout: CHECK_TIMEOUT_MS }, async () => {
      expect(campaign, 'the campaign did not run').toBeDefined()
      expect(await check.run(campaign!), `TICKS_FUZZ_SEED=${SEED}`).toEqual([])
    })
  }
})

/**
 * `npm run soak` (10 minutes; TICKS_SOAK_MS to change): random schedules on the simulated network,
 * seed after seed, checking the status laws and convergence; prints a summary with every failing
 * seed so each can be replayed with `createNetwork({ seed })`.
 */
import { createNetwork, createRandom } from '../src/index.js'

const DURATION_MS = Number(process.env.TICKS_SOAK_MS ?? 10 * 60_000)
const FIRST_SEED = Number(process.env.TICKS_SOAK_SEED ?? Date.now() % 1_000_000)
const DEVICES = [
  ['alice', 'd1'],
  ['alice', 'd2'],
  ['bob', 'd1'],
  ['carol', 'd1'],
] as const

const totals = { runs: 0, messages: 0, frames: 0, dropped: 0, resyncs: 0, simulatedMs: 0 }
const failures: { seed: number; law: string; detail: string }[] = []
const started = Date.now()

for (let seed = FIRST_SEED; Date.now() - started < DURATION_MS; seed++) {
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
console.log(
  `soak: ${((Date.now() - started) / 1000).toFixed(0)} s, seeds ${FIRST_SEED}…${FIRST_SEED + totals.runs - 1}`,
)
console.log(
  `  ${totals.runs} simulated runs, ${totals.messages} messages stamped, ${totals.frames} frames (${totals.dropped} dropped), ` +
    `${totals.resyncs} resyncs, ${(totals.simulatedMs / 1000).toFixed(0)} simulated s`,
)
console.log(`  ${failures.length} failing runs ${JSON.stringify(byLaw)}`)
for (const failure of failures.slice(0, 20))
  console.log(`  seed ${failure.seed} [${failure.law}] ${failure.detail}`)
process.exit(failures.length === 0 ? 0 : 1)

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { createNetwork, type Network, type Replica } from '../src/index.js'

/** The devices of the run: two for alice, so per-user watermarks merge across devices. */
const DEVICES = [
  ['alice', 'd1'],
  ['alice', 'd2'],
  ['bob', 'd1'],
  ['carol', 'd1'],
] as const

const replicaIndex = fc.integer({ min: 0, max: DEVICES.length - 1 })
const operation = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('send' as const), who: replicaIndex }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('markDelivered' as const), who: replicaIndex }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('markRead' as const), who: replicaIndex }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('partition' as const),
      side: fc.array(fc.boolean(), { minLength: DEVICES.length, maxLength: DEVICES.length }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('isolate' as const), who: replicaIndex }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('heal' as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('faults' as const),
      drop: fc.constantFrom(0, 0.05, 0.2),
      duplicate: fc.constantFrom(0, 0.1, 0.5),
      reorder: fc.constantFrom(0, 0.1, 0.5),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({ op: fc.constant('run' as const), ms: fc.integer({ min: 0, max: 60 }) }),
  },
)
type Operation = typeof operation extends fc.Arbitrary<infer T> ? T : never

async function play(network: Network, replicas: Replica[], operations: Operation[]): Promise<void> {
  let sent = 0
  for (const step of operations) {
    switch (step.op) {
      case 'send':
        // A device that never reached the server has no member list yet: the app could not send.
        if (Object.keys(replicas[step.who]!.conversation.members()).length > 0)
          replicas[step.who]!.send(`message ${sent++}`)
        break
      case 'markDelivered':
        replicas[step.who]!.markDelivered()
        break
      case 'markRead':
        replicas[step.who]!.markRead()
        break
      case 'partition':
        network.partition(
          replicas.filter((_, i) => step.side[i]),
          [network.server, ...replicas.filter((_, i) => !step.side[i])],
        )
        break
      case 'isolate':
        network.isolate(replicas[step.who]!)
        break
      case 'heal':
        network.heal()
        break
      case 'faults':
        network.faults({ drop: step.drop, duplicate: step.duplicate, reorder: step.reorder })
        break
      case 'run':
        await network.run(step.ms)
        break
    }
  }
}

const settings = { numRuns: 100, endOnFailure: true, interruptAfterTimeLimit: 40_000 }

/** Runs the property; returns in how many runs the room sealed something. */
async function checkLaws(options: { historyWindow?: number }): Promise<number> {
  let sealingRuns = 0
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      fc.boolean(),
      fc.array(operation, { minLength: 12, maxLength: 40 }),
      async (seed, autoDeliver, operations) => {
        const network = await createNetwork({
          seed,
          autoDeliver,
          ...options,
          conversation: { members: { alice: 'owner', bob: 'member', carol: 'member' } },
        })
        try {
          const replicas = DEVICES.map(([user, device]) => network.replica(user, device))
          await network.settle()
          await play(network, replicas, operations)
          // Laws 2 and 4 hold at every moment, healed or not.
          network.assertLaws()
          network.heal()
          await network.settle()
          // Law 1: everyone that exchanged everything agrees, on the highest status seen.
          network.assertConverged()
          network.assertLaws()
          expect(network.room.index.unsequenced()).toEqual([])
          if (network.room.index.sealedThrough > 0) sealingRuns++

          // Law 3: re-delivering everything (duplicates, in any order) changes nothing.
          const before = replicas.map((r) => JSON.stringify(r.messages()))
          const everything = Y.encodeStateAsUpdate(network.room.doc)
          for (const replica of [...replicas].reverse()) {
            Y.applyUpdate(replica.doc, everything)
            for (const own of replicas) Y.applyUpdate(replica.doc, Y.encodeStateAsUpdate(own.doc))
          }
          expect(replicas.map((r) => JSON.stringify(r.messages()))).toEqual(before)
        } finally {
          await network.close()
        }
      },
    ),
    settings,
  )
  return sealingRuns
}

describe('the four status laws (DESIGN §3) under random schedules of the simulated network', () => {
  it('monotone, sent ⇒ durable, delivered ⇒ integrated; converge to the max after heal', async () => {
    await checkLaws({})
  }, 60_000)
  // Sealing in the schedule (DESIGN section 12): a window of two, so most runs seal many times,
  // with replicas partitioned across several seals and holding messages since sealed.
  it('hold with sealing: statuses of sealed messages keep rising, every message once after heal', async () => {
    expect(await checkLaws({ historyWindow: 2 })).toBeGreaterThan(10)
  }, 60_000)

  it('a late device of a user converges to what the others agreed on', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.array(operation, { minLength: 12, maxLength: 25 }),
        async (seed, operations) => {
          const network = await createNetwork({
            seed,
            conversation: { members: { alice: 'owner', bob: 'member', carol: 'member' } },
          })
          try {
            const replicas = DEVICES.map(([user, device]) => network.replica(user, device))
            await network.settle()
            await play(network, replicas, operations)
            network.heal()
            await network.settle()
            const late = network.replica('bob', 'late')
            await network.settle()
            network.assertConverged()
            expect(late.messages().map((m) => [m.id, m.seq, m.status])).toEqual(
              replicas[0]!.messages().map((m) => [m.id, m.seq, m.status]),
            )
          } finally {
            await network.close()
          }
        },
      ),
      { ...settings, numRuns: 40 },
    )
  }, 60_000)
})

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createNetwork, type Replica } from '../src/index.js'

/**
 * Message actions (issue 17) through the simulated network, which runs the real room and write
 * rules: reactions, edits and deletions for everyone mixed with partitions, drops, duplicates and
 * reorders. After heal, every replica shows the same texts, edited marks, tombstones and
 * reactions, with the status laws intact.
 */

const DEVICES = [
  ['alice', 'd1'],
  ['alice', 'd2'],
  ['bob', 'd1'],
  ['carol', 'd1'],
] as const
const EMOJI = ['👍', '🎉', '😮']

const who = fc.integer({ min: 0, max: DEVICES.length - 1 })
const pick = fc.nat()
const operation = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('send' as const), who }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('react' as const), who, pick, emoji: pick }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('unreact' as const), who, pick, emoji: pick }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('edit' as const), who, pick }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), who, pick }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('markRead' as const), who }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('partition' as const),
      side: fc.array(fc.boolean(), { minLength: DEVICES.length, maxLength: DEVICES.length }),
    }),
  },
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

/** Alice sends from one device, edits from both, deletes one while the other is cut off, heals. */
const GUARANTEED: Operation[] = [
  { op: 'send', who: 0 },
  { op: 'send', who: 0 },
  { op: 'send', who: 1 },
  { op: 'run', ms: 40 },
  ...[0, 1, 2, 0, 1, 2, 0].map((pick, i): Operation => ({ op: 'edit', who: i % 2, pick })),
  { op: 'react', who: 2, pick: 0, emoji: 1 },
  { op: 'faults', drop: 0.05, duplicate: 0.1, reorder: 0.1 },
  { op: 'partition', side: [false, true, false, false] },
  { op: 'delete', who: 0, pick: 1 },
  { op: 'edit', who: 1, pick: 1 },
  { op: 'run', ms: 60 },
  { op: 'heal' },
  { op: 'delete', who: 1, pick: 0 },
  { op: 'run', ms: 60 },
]

/** A shown message of the replica (own ones only for edits and deletions), or undefined. */
function target(replica: Replica, index: number, own: boolean) {
  const shown = replica
    .messages()
    .filter((m) => !m.deleted && (!own || m.author === replica.conversation.userId))
  return shown.length === 0 ? undefined : shown[index % shown.length]
}

const actionsOf = (replica: Replica) =>
  replica
    .messages()
    .map(({ id, text, edited, deleted, reactions }) => ({ id, text, edited, deleted, reactions }))

describe('message actions over the simulated network', () => {
  it('replicas converge on texts, edits, tombstones and reactions after heal', async () => {
    let edited = 0
    let deleted = 0
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.array(operation, { minLength: 12, maxLength: 40 }),
        async (seed, operations) => {
          const network = await createNetwork({
            seed,
            conversation: { members: { alice: 'owner', bob: 'member', carol: 'member' } },
          })
          try {
            const replicas = DEVICES.map(([user, device]) => network.replica(user, device))
            await network.settle()
            let sent = 0
            for (const step of operations) {
              const replica = 'who' in step ? replicas[step.who]! : undefined
              const ready = replica && Object.keys(replica.conversation.members()).length > 0
              switch (step.op) {
                case 'send':
                  if (ready) replica!.send(`message ${sent++}`)
                  break
                case 'react':
                case 'unreact': {
                  const message = ready ? target(replica!, step.pick, false) : undefined
                  const emoji = EMOJI[step.emoji % EMOJI.length]!
                  if (message && step.op === 'react') replica!.conversation.react(message.id, emoji)
                  if (message && step.op === 'unreact') replica!.conversation.unreact(message.id, emoji)
                  break
                }
                case 'edit': {
                  const message = ready ? target(replica!, step.pick, true) : undefined
                  if (message) {
                    replica!.conversation.edit(message.id, `edit ${sent++}`)
                    edited++
                  }
                  break
                }
                case 'delete': {
                  const message = ready ? target(replica!, step.pick, true) : undefined
                  if (message) {
                    replica!.conversation.deleteForEveryone(message.id)
                    deleted++
                  }
                  break
                }
                case 'markRead':
                  replica!.markRead()
                  break
                case 'partition':
                  network.partition(
                    replicas.filter((_, i) => step.side[i]),
                    [network.server, ...replicas.filter((_, i) => !step.side[i])],
                  )
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
            network.assertLaws()
            network.heal()
            await network.settle()
            network.assertConverged()
            network.assertLaws()
            const expected = actionsOf(replicas[0]!)
            for (const replica of replicas) expect(actionsOf(replica)).toEqual(expected)
          } finally {
            await network.close()
          }
        },
      ),
      {
        numRuns: 100,
        endOnFailure: true,
        interruptAfterTimeLimit: 40_000,
        // Run first, so a slow machine that stops at the time limit after a few random schedules
        // has still exercised edits and a deletion, across a partition, with faults on the links.
        examples: [[1, GUARANTEED]],
      },
    )
    // The schedules did exercise edits and deletions.
    expect(edited).toBeGreaterThan(5)
    expect(deleted).toBeGreaterThan(0)
  }, 60_000)
})

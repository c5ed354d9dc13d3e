import fc from 'fast-check'
import { expect, it } from 'vitest'
import { createNetwork } from '../src/index.js'

it('every message anyone sends ends up read by everyone, whatever the network did', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      fc.array(fc.tuple(fc.constantFrom('alice', 'bob'), fc.boolean(), fc.nat(30)), { maxLength: 20 }),
      async (seed, steps) => {
        const network = await createNetwork({ seed, faults: { drop: 0.1, reorder: 0.2, duplicate: 0.2 } })
        try {
          network.replica('alice')
          network.replica('bob')
          await network.settle() // a replica can send once it has the member list
          for (const [user, cutOff, ms] of steps) {
            const replica = network.replica(user)
            replica.send(`hi from ${user}`)
            if (cutOff) network.isolate(replica)
            await network.run(ms)
            if (!cutOff) network.heal()
          }
          network.heal()
          await network.settle()
          for (const replica of network.replicas()) replica.markRead()
          await network.settle()
          network.assertConverged()
          network.assertLaws()
          const bob = network.replica('bob')
          expect(bob.messages().every((m) => m.author === 'bob' || m.status !== 'pending')).toBe(true)
        } finally {
          await network.close()
        }
      },
    ),
    { numRuns: 50 },
  )
})

import { afterEach, expect, it } from 'vitest'
import { createNetwork, type Network } from '../src/index.js'

let network: Network | undefined
afterEach(async () => {
  await network?.close()
  network = undefined
})

/**
 * Found by the simulator (seed 1). Bob raises his receipt (a Yjs map overwrite: a new item plus the
 * deletion of the old one) right after sending a message. When the server's frames to Alice are
 * reordered, the raise arrives first: its new item waits for the missing message struct, but the
 * deletion of the old receipt applies at once. core's ConversationIndex derives a user's watermark
 * from the keys present only, so Bob's watermark falls to 0 and Alice sees `read → sent` (laws 2
 * and 3 of DESIGN §3). Also seen over real sockets in the chaos suite.
 */
it('reordered frames never lower a status (seed 1)', async () => {
  network = await createNetwork({ seed: 1, autoDeliver: false })
  const alice = network.replica('alice')
  const bob = network.replica('bob')
  await network.settle()
  for (let i = 0; i < 4; i++) {
    alice.send(`a${i}`)
    await network.settle()
    bob.markRead()
    await network.settle()
  }
  network.faults({ reorder: 0.5, delay: [1, 20] }, [alice])
  for (let i = 0; i < 6; i++) {
    alice.send(`x${i}`)
    await network.run(3)
    bob.send(`b${i}`)
    await network.run(2)
    bob.markRead()
    await network.run(5)
  }
  await network.settle()
  expect(network.violations().map((v) => v.message)).toEqual([])
  network.assertConverged()
})

import { afterEach, describe, expect, it } from 'vitest'
import { createNetwork, type Network } from '../src/index.js'

describe('assertConverged() compares everything a replica holds', () => {
  let network: Network | undefined
  afterEach(async () => {
    await network?.close()
    network = undefined
  })

  it('reports a title and a member list the server never got', async () => {
    network = await createNetwork({ seed: 5 })
    const alice = network.replica('alice')
    network.replica('bob')
    await network.settle()
    network.faults({ drop: 1 }, [alice]) // online, but nothing she writes arrives
    alice.conversation.setTitle('Renamed by alice')
    alice.conversation.setMember('carol', 'member')
    await network.run(50)
    expect(alice.online).toBe(true)
    expect(() => network!.assertConverged()).toThrow(
      /alice@d1 shows title "Renamed by alice", server "Simulated"/,
    )
    expect(() => network!.assertConverged()).toThrow(
      /member carol: alice@d1 shows member, server not a member/,
    )
    expect(() => network!.assertConverged()).toThrow(
      /alice@d1's document has client \d+ up to clock 2, server's up to 0/,
    )
  })

  it('catches a lost deletion, which leaves the state vectors equal, and settle() repairs it', async () => {
    network = await createNetwork({ seed: 6 })
    const alice = network.replica('alice')
    network.replica('bob')
    await network.settle()
    network.faults({ drop: 1 }, [alice])
    // An owner may delete meta entries: a pure deletion, it does not move alice's state vector.
    alice.doc.getMap('meta').delete('title')
    await network.run(50)
    expect(() => network!.assertConverged()).toThrow(/alice@d1's document has other deletions than server's/)
    network.faults({ drop: 0 }, [alice])
    await network.settle()
    network.assertConverged()
    expect(network.replica('bob').conversation.title()).toBe('')
  })
})

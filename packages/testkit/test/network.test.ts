import { afterEach, describe, expect, it } from 'vitest'
import { createNetwork, type Network } from '../src/index.js'

describe('createNetwork', () => {
  const networks: Network[] = []
  afterEach(async () => {
    for (const network of networks.splice(0)) await network.close()
  })
  const open = async (seed: number, options: Partial<Parameters<typeof createNetwork>[0]> = {}) => {
    const network = await createNetwork({ seed, ...options })
    networks.push(network)
    return network
  }

  it('carries a message from pending to read through the real room', async () => {
    const network = await open(1)
    const alice = network.replica('alice')
    const bob = network.replica('bob')
    await network.settle()
    const message = alice.send('hello')
    expect(alice.conversation.status(message.id)).toBe('pending')
    await network.settle()
    expect(alice.conversation.status(message.id)).toBe('delivered')
    expect(bob.messages().map((m) => [m.text, m.seq])).toEqual([['hello', 1]])
    bob.markRead()
    await network.settle()
    expect(alice.conversation.status(message.id)).toBe('read')
    network.assertConverged()
    network.assertLaws()
    const seen = network
      .statusHistory()
      .filter((o) => o.replica === 'alice@d1' && o.messageId === message.id && o.recipient === undefined)
      .map((o) => o.status)
    expect(seen).toEqual(['pending', 'sent', 'delivered', 'read'])
  })

  it('keeps a partitioned replica working offline and merges it after heal()', async () => {
    const network = await open(2, { autoDeliver: false })
    const alice = network.replica('alice')
    const bob = network.replica('bob')
    await network.settle()
    network.partition([alice], [bob, network.server])
    const offline = alice.send('written offline')
    bob.send('meanwhile')
    await network.settle()
    expect(alice.online).toBe(false)
    expect(alice.conversation.status(offline.id)).toBe('pending')
    expect(() => network.assertConverged()).toThrow(/alice@d1 is offline/)
    network.heal()
    await network.settle()
    network.assertConverged()
    expect(alice.messages().map((m) => m.text)).toEqual(['meanwhile', 'written offline'])
    expect(alice.conversation.status(offline.id)).toBe('sent')
  })

  it('repairs dropped, duplicated and reordered frames by resyncing', async () => {
    const network = await open(3, { faults: { drop: 0.2, duplicate: 0.2, reorder: 0.2, delay: [1, 30] } })
    const replicas = [network.replica('alice'), network.replica('alice', 'd2'), network.replica('bob')]
    await network.settle()
    for (let i = 0; i < 30; i++) {
      replicas[i % 3]!.send(`m${i}`)
      await network.run(7)
      if (i % 5 === 0) replicas[(i + 1) % 3]!.markRead()
    }
    await network.settle()
    network.assertConverged()
    network.assertLaws()
    const stats = network.stats()
    expect(stats.framesDropped).toBeGreaterThan(0)
    expect(stats.framesDuplicated).toBeGreaterThan(0)
    expect(stats.resyncs + (stats.serverCloses['4400'] ?? 0)).toBeGreaterThan(0)
    expect(replicas[2]!.messages()).toHaveLength(30)
  })

  it('replays the same run from the same seed', async () => {
    const trace = async (seed: number) => {
      const network = await open(seed, { faults: { drop: 0.1, reorder: 0.3, delay: [1, 20] } })
      const alice = network.replica('alice')
      const bob = network.replica('bob')
      await network.settle()
      for (let i = 0; i < 10; i++) {
        ;(i % 2 ? alice : bob).send(`m${i}`)
        await network.run(3)
        if (i === 4) network.isolate(bob)
        if (i === 7) network.heal()
      }
      await network.settle()
      return {
        history: network
          .statusHistory()
          .map((o) => `${o.time} ${o.replica} ${o.text} ${o.recipient ?? ''} ${o.status}`),
        stats: network.stats(),
      }
    }
    const first = await trace(42)
    expect(await trace(42)).toEqual(first)
    expect((await trace(43)).history).not.toEqual(first.history)
  })

  it('replays the same message ids from the same seed', async () => {
    const run = async (seed: number) => {
      const network = await open(seed, { faults: { drop: 0.1, reorder: 0.3, delay: [1, 20] } })
      const alice = network.replica('alice')
      const bob = network.replica('bob')
      await network.settle()
      const ids = [alice.send('a').id, bob.send('b').id, alice.send('c').id]
      await network.settle()
      return { ids, history: network.statusHistory().map((o) => ({ ...o })) }
    }
    const first = await run(7)
    expect(await run(7)).toEqual(first)
    expect((await run(8)).ids).not.toEqual(first.ids)
  })

  it('partition() leaves replicas in neither group where they were', async () => {
    const network = await open(1, {
      conversation: { members: { alice: 'owner', bob: 'member', carol: 'member' } },
    })
    const alice = network.replica('alice')
    const bob = network.replica('bob')
    const carol = network.replica('carol')
    await network.settle()
    const online = () => [alice.online, bob.online, carol.online]
    network.partition([alice], [network.server])
    await network.settle()
    expect(online()).toEqual([false, true, true])
    network.heal()
    network.isolate(carol)
    network.partition([alice], [bob, network.server])
    await network.settle()
    expect(online()).toEqual([false, true, false])
    // Replicas talk only through the server: a group without it is cut off from it.
    network.heal()
    network.partition([alice], [bob])
    await network.settle()
    expect(online()).toEqual([false, false, true])
  })

  it("counts only the room's commits in stats(), not the setup write", async () => {
    const network = await open(1)
    expect(network.stats().commits).toBe(0)
    const alice = network.replica('alice')
    network.replica('bob')
    await network.settle()
    expect(network.stats().commits).toBe(0)
    alice.send('hello')
    await network.settle()
    expect(network.stats().commits).toBeGreaterThan(0)
  })

  it('names the replicas settle() could not repair', async () => {
    const network = await open(1)
    const alice = network.replica('alice')
    const bob = network.replica('bob')
    await network.settle()
    network.faults({ drop: 1 }, [bob])
    alice.send('bob never gets this')
    await expect(network.settle({ maxRounds: 5 })).rejects.toThrow(
      /did not settle within 5 resync rounds; still stale: bob@d1 \(its document differs from the server's\)$/,
    )
  })

  it('explains what differs when replicas have not converged', async () => {
    const network = await open(4)
    const alice = network.replica('alice')
    const bob = network.replica('bob')
    await network.settle()
    network.isolate(bob)
    alice.send('only alice has this')
    await network.settle()
    network.heal()
    await network.run(1) // not settled: bob has not reconnected yet
    expect(() => network.assertConverged()).toThrow(/"only alice has this".*bob@d1|bob@d1 is offline/)
    await network.settle()
    network.assertConverged()
  })
})

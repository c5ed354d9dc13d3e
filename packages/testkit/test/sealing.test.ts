import { afterEach, describe, expect, it } from 'vitest'
import { createNetwork, type Network } from '../src/index.js'

/** Bounded conversations (DESIGN section 12) in the simulated network: the real room seals. */
describe('sealing in the simulated network', () => {
  const networks: Network[] = []
  afterEach(async () => {
    for (const network of networks.splice(0)) await network.close()
  })

  it('a replica offline across several seals: its pending messages are stamped, its receipts raise sealed ones', async () => {
    const network = await createNetwork({ seed: 7, historyWindow: 3, autoDeliver: false })
    networks.push(network)
    const alice = network.replica('alice')
    const bob = network.replica('bob')
    await network.settle()
    const early = alice.send('before bob left')
    await network.settle()
    network.isolate(bob)
    const whileAway = Array.from({ length: 12 }, (_, i) => alice.send(`while bob was away ${i}`))
    const offline = [bob.send('written offline 1'), bob.send('written offline 2')]
    await network.settle()
    // Several seals happened while bob was away; nothing of his was there to seal.
    expect(network.room.index.sealedThrough).toBeGreaterThanOrEqual(9)
    expect(offline.map((m) => bob.conversation.status(m.id))).toEqual(['pending', 'pending'])

    network.heal()
    await network.settle()
    // Stamped after everything sealed while he was away; the first message he held stays shown.
    const seqs = offline.map((m) => bob.conversation.message(m.id).seq!)
    expect(seqs).toEqual([14, 15])
    expect(bob.conversation.message(early.id).seq).toBe(1)

    bob.markRead()
    await network.settle()
    network.assertConverged() // pages the whole history in everywhere, then compares
    network.assertLaws()
    for (const message of [early, ...whileAway]) expect(alice.conversation.status(message.id)).toBe('read')
    expect(alice.messages().map((m) => m.seq)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1))
  })

  it('never seals a pending message, and a late device sees the window only until it pages', async () => {
    const network = await createNetwork({ seed: 11, historyWindow: 2 })
    networks.push(network)
    const alice = network.replica('alice')
    network.replica('bob')
    await network.settle()
    network.isolate(alice)
    const pending = alice.send('never reached the server')
    await network.settle()
    for (let i = 0; i < 8; i++) network.replica('bob').send(`bob ${i}`)
    await network.settle()
    expect(network.room.index.sealedThrough).toBeGreaterThan(0)
    expect(alice.conversation.status(pending.id)).toBe('pending')
    network.heal()
    await network.settle()
    expect(alice.conversation.message(pending.id).seq).toBe(9)
    const late = network.replica('bob', 'late')
    await network.settle()
    expect(late.messages().map((m) => m.seq)).toEqual([8, 9])
    network.assertConverged()
    expect(late.messages().map((m) => m.seq)).toEqual(Array.from({ length: 9 }, (_, i) => i + 1))
  })
})

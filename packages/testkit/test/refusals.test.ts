import { afterEach, describe, expect, it } from 'vitest'
import { createNetwork, type Network } from '../src/index.js'

/** As `@ticks/client` does: a refused replica shows why, stops retrying, and comes back when it can. */
describe('a replica the server refuses', () => {
  let network: Network | undefined
  afterEach(async () => {
    await network?.close()
    network = undefined
  })

  const demotedWhileOffline = async () => {
    network = await createNetwork({ seed: 3 })
    const alice = network.replica('alice')
    const bob = network.replica('bob')
    await network.settle()
    network.isolate(bob)
    alice.conversation.setMember('bob', 'observer')
    const written = bob.send('written while demoted')
    alice.send('after the demotion')
    await network.settle()
    network.heal()
    await network.settle()
    return { network, alice, bob, written }
  }

  it('shows its unsent messages as failed with the reason, and stays offline', async () => {
    const { network, bob, written } = await demotedWhileOffline()
    expect(bob.stopped).toMatchObject({ code: 4403, reason: 'bob is an observer' })
    expect(bob.conversation.status(written.id)).toBe('failed')
    expect(bob.conversation.failureReason(written.id)).toBe('bob is an observer')
    expect(bob.online).toBe(false)
    expect(() => network.assertConverged()).toThrow(
      /bob@d1 is offline \(refused; last close 4403 "bob is an observer" at t=\d+ms\)/,
    )
  })

  it('tries once more when its failed messages are discarded (a demoted member reconnects to read)', async () => {
    const { network, bob, written } = await demotedWhileOffline()
    bob.conversation.discard(written.id)
    await network.settle()
    expect(bob.online).toBe(true)
    expect(bob.stopped).toBeUndefined()
    expect(bob.messages().map((m) => [m.text, m.status])).toEqual([['after the demotion', 'sent']])
    network.assertConverged()
  })

  it('comes back after heal() once the refusal no longer applies', async () => {
    const { network, alice, bob, written } = await demotedWhileOffline()
    alice.conversation.setMember('bob', 'member')
    await network.settle()
    expect(bob.online).toBe(false) // a refusal is not retried by itself
    network.heal()
    await network.settle()
    expect(bob.online).toBe(true)
    expect(bob.conversation.message(written.id).seq).toBeDefined()
    network.assertConverged()
  })

  it('comes back on replica.reconnect(), e.g. once it was made a member', async () => {
    network = await createNetwork({ seed: 8 })
    const alice = network.replica('alice')
    const carol = network.replica('carol')
    await network.settle()
    expect(carol.stopped?.code).toBe(4403)
    alice.conversation.setMember('carol', 'member')
    await network.settle()
    expect(carol.online).toBe(false)
    carol.reconnect()
    await network.settle()
    expect(carol.online).toBe(true)
    expect(carol.conversation.role()).toBe('member')
    network.assertConverged()
  })

  it('shows its unsent messages as failed after a 4400 too, and does not retry it by itself', async () => {
    network = await createNetwork({ seed: 9 })
    const alice = network.replica('alice')
    network.replica('bob')
    await network.settle()
    network.isolate(alice)
    const hello = alice.send('hello')
    alice.doc.getMap('u:alice').set('m|broken', { not: 'a message' })
    network.heal()
    await network.settle()
    expect(alice.stopped?.code).toBe(4400)
    expect(alice.conversation.status(hello.id)).toBe('failed')
    expect(alice.conversation.failureReason(hello.id)).toBe(alice.stopped?.reason)
    expect(alice.online).toBe(false)
  })
})

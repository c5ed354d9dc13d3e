import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { PubSub } from '../src/relay/pubsub.js'
import { pollUntil } from './helpers/until.js'

/**
 * The executable contract of the relay seam (STYLE.md): every adapter runs it. `setup` returns two
 * relays that share a bus, as two nodes would.
 */
export function runPubSubContract(
  name: string,
  setup: () => Promise<{ nodeA: PubSub; nodeB: PubSub; teardown?: () => Promise<void> }>,
): void {
  describe(`PubSub contract: ${name}`, () => {
    let nodeA: PubSub
    let nodeB: PubSub
    let teardown: (() => Promise<void>) | undefined
    beforeEach(async () => {
      ;({ nodeA, nodeB, teardown } = await setup())
    })
    afterEach(async () => {
      await nodeA.close()
      await nodeB.close()
      await teardown?.()
    })

    const collect = async (relay: PubSub, channel: string) => {
      const got: number[][] = []
      const stop = await relay.subscribe(channel, (message) => got.push([...message]))
      return { got, stop }
    }

    it('delivers bytes exactly, in order, to every subscriber of the channel and to no other', async () => {
      const onB = await collect(nodeB, 'doc-1')
      const alsoOnB = await collect(nodeB, 'doc-1')
      const onA = await collect(nodeA, 'doc-1')
      const elsewhere = await collect(nodeB, 'doc-2')
      expect(nodeA.connected).toBe(true)
      expect(await nodeA.publish('doc-1', new Uint8Array([0, 255, 1]))).toBe(true)
      await nodeA.publish('doc-1', new Uint8Array([2]))
      await pollUntil(
        () => onB.got.length === 2 && alsoOnB.got.length === 2 && onA.got.length === 2,
        5000,
        'delivery',
        5,
      )
      expect(onB.got).toEqual([[0, 255, 1], [2]])
      expect(onA.got).toEqual([[0, 255, 1], [2]])
      await new Promise((resolve) => setTimeout(resolve, 50))
      expect(elsewhere.got).toEqual([])
    })

    it('stops delivering once unsubscribed', async () => {
      const onB = await collect(nodeB, 'doc-1')
      const stays = await collect(nodeB, 'doc-1')
      await onB.stop()
      await nodeA.publish('doc-1', new Uint8Array([7]))
      await pollUntil(() => stays.got.length === 1, 5000, 'delivery', 5)
      await new Promise((resolve) => setTimeout(resolve, 50))
      expect(onB.got).toEqual([])
    })
  })
}

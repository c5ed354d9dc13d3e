import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LocalPubSub } from '../src/relay/local-pubsub.js'
import { RedisPubSub } from '../src/relay/redis-pubsub.js'
import { startRedis, type TestRedis } from './helpers/redis.js'
import { pollUntil } from './helpers/until.js'
import { runPubSubContract } from './pubsub-contract.js'

runPubSubContract('local', async () => {
  const bus = new LocalPubSub()
  return { nodeA: bus, nodeB: bus }
})

let redis: TestRedis
beforeAll(async () => {
  redis = await startRedis()
})
afterAll(async () => {
  await redis.close()
})

runPubSubContract('redis', async () => ({
  nodeA: await RedisPubSub.open({ url: redis.url }),
  nodeB: await RedisPubSub.open({ url: redis.url }),
}))

describe('RedisPubSub when Redis goes away', () => {
  it('says so, reconnects by itself when Redis is back, and delivers again', async () => {
    const nodeA = await RedisPubSub.open({ url: redis.url, maxReconnectDelayMs: 100 })
    const nodeB = await RedisPubSub.open({ url: redis.url, maxReconnectDelayMs: 100 })
    const statuses: boolean[] = []
    nodeB.onStatus((connected) => statuses.push(connected))
    const got: number[] = []
    await nodeB.subscribe('doc', (message) => got.push(message[0]!))
    try {
      await redis.stop()
      await pollUntil(() => !nodeA.connected && !nodeB.connected, 5000, 'disconnect', 10)
      expect(statuses).toEqual([false])
      // Dropped at once while down (the store has it), not queued for a late replay.
      expect(await nodeA.publish('doc', new Uint8Array([1]))).toBe(false)
      await redis.start()
      await pollUntil(() => nodeA.connected && nodeB.connected, 10_000, 'reconnect', 20)
      expect(statuses).toEqual([false, true])
      await nodeA.publish('doc', new Uint8Array([2]))
      await pollUntil(() => got.length > 0, 5000, 'delivery after reconnect', 10)
      expect(got).toEqual([2])
    } finally {
      await nodeA.close()
      await nodeB.close()
    }
  })

  it('starts without Redis (degraded), and connects once Redis is there', { timeout: 20_000 }, async () => {
    const later = await startRedis()
    await later.stop()
    const relay = await RedisPubSub.open({ url: later.url, maxReconnectDelayMs: 50 }, 200)
    try {
      expect(relay.connected).toBe(false)
      await later.start()
      await pollUntil(() => relay.connected, 10_000, 'connect', 20)
    } finally {
      await relay.close()
      await later.close()
    }
    await expect(RedisPubSub.open({ url: 'not a url' })).rejects.toThrow()
  })
})

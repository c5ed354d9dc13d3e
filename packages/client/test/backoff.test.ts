import { describe, expect, it } from 'vitest'
import { reconnectDelay } from '../src/index.js'

describe('reconnect back-off', () => {
  const options = { baseMs: 100, maxMs: 2500 }

  it('grows exponentially and is capped', () => {
    const low = (attempt: number) => reconnectDelay(attempt, options, () => 0)
    const high = (attempt: number) => reconnectDelay(attempt, options, () => 1)
    expect([0, 1, 2, 3].map(high)).toEqual([100, 200, 400, 800])
    expect(high(10)).toBe(2500)
    expect(high(1000)).toBe(2500)
    expect(low(10)).toBe(1250)
  })

  it('spreads clients of a restarted server over half the window (jitter)', () => {
    let seed = 1
    const random = () => {
      seed = (seed * 48271) % 2147483647
      return seed / 2147483647
    }
    const delays = Array.from({ length: 1000 }, () => reconnectDelay(10, options, random))
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(1250)
    expect(Math.max(...delays)).toBeLessThanOrEqual(2500)
    // No two clients land in the same millisecond bucket en masse: at most 1% per 12.5 ms bucket.
    const buckets = new Map<number, number>()
    for (const delay of delays)
      buckets.set(Math.floor(delay / 12.5), (buckets.get(Math.floor(delay / 12.5)) ?? 0) + 1)
    expect(Math.max(...buckets.values())).toBeLessThan(30)
  })
})

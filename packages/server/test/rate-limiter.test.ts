import { afterEach, describe, expect, it, vi } from 'vitest'
import { RateLimiter } from '../src/sync/rate-limiter.js'
import { type ConnectionHost, RoomConnection } from '../src/sync/room-connection.js'
import { DEFAULT_ROOM_LIMITS } from '../src/sync/room-options.js'

/** `count` takes in a row. */
function takes(take: () => boolean, count: number): boolean[] {
  return Array.from({ length: count }, take)
}

describe('token buckets', () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it('a rate limiter lets its burst through, then refills at its rate and never past the burst', () => {
    let now = 0
    const limiter = new RateLimiter(10, 3, () => now)
    expect(takes(() => limiter.take(), 4)).toEqual([true, true, true, false])
    now += 100 // one token at 10 a second
    expect(takes(() => limiter.take(), 2)).toEqual([true, false])
    now += 60_000
    expect(takes(() => limiter.take(), 4)).toEqual([true, true, true, false])
  })

  it("a room connection's own bucket does the same with the room's messagesPerSecond and burst", () => {
    let now = 1_000
    vi.spyOn(performance, 'now').mockImplementation(() => now)
    const host: ConnectionHost = { receive() {}, disconnect() {} }
    const peer = { userId: 'alice', send() {}, close() {} }
    const limits = { ...DEFAULT_ROOM_LIMITS, messagesPerSecond: 10, burst: 3 }
    const connection = new RoomConnection(peer, limits, {}, host)
    expect(takes(() => connection.takeToken(), 4)).toEqual([true, true, true, false])
    now += 100
    expect(takes(() => connection.takeToken(), 2)).toEqual([true, false])
    now += 60_000
    expect(takes(() => connection.takeToken(), 4)).toEqual([true, true, true, false])
  })
})

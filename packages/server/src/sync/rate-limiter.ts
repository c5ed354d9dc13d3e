/** One clock for every limiter: a `performance.now.bind(…)` each was a bound function per socket. */
export const monotonicNow = (): number => performance.now()

/** A token bucket's state, read and written only by `takeToken`. */
export interface TokenBucket {
  tokens: number
  last: number
}

/**
 * Take one token: the bucket first refills at `perSecond` since `last`, up to `burst`. False (and
 * nothing taken) when less than one is left. The one rule for every bucket: a `RateLimiter`, and a
 * room connection, which holds its bucket itself so an idle socket has one object fewer.
 */
export function takeToken(bucket: TokenBucket, perSecond: number, burst: number, now: number): boolean {
  bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.last) * perSecond) / 1000)
  bucket.last = now
  if (bucket.tokens < 1) return false
  bucket.tokens -= 1
  return true
}

/** A token bucket: `burst` messages at once, refilled at `perSecond`. */
export class RateLimiter implements TokenBucket {
  tokens: number
  last: number

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number = monotonicNow,
  ) {
    this.tokens = burst
    this.last = now()
  }

  take(): boolean {
    return takeToken(this, this.perSecond, this.burst, this.now())
  }
}

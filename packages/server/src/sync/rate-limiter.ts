/** One clock for every limiter: a `performance.now.bind(…)` each was a bound function per socket. */
export const monotonicNow = (): number => performance.now()

/** A token bucket's tokens at `now`: those left at `last`, refilled at `perSecond`, at most `burst`. */
export function refilledTokens(
  tokens: number,
  last: number,
  now: number,
  perSecond: number,
  burst: number,
): number {
  return Math.min(burst, tokens + ((now - last) * perSecond) / 1000)
}

/** A token bucket: `burst` messages at once, refilled at `perSecond`. */
export class RateLimiter {
  private tokens: number
  private last: number

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number = monotonicNow,
  ) {
    this.tokens = burst
    this.last = now()
  }

  take(): boolean {
    const now = this.now()
    this.tokens = refilledTokens(this.tokens, this.last, now, this.perSecond, this.burst)
    this.last = now
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }
}

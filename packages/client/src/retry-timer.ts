import { reconnectDelay } from './backoff.js'

/**
 * The next reconnect attempt of a socket or a conversation: jittered exponential back-off (see
 * `reconnectDelay`), started higher after a 4429, since the server asked to slow down.
 */
export class RetryTimer {
  private timer: ReturnType<typeof setTimeout> | undefined
  private attempts = 0
  private rateLimited = false

  constructor(private readonly options: { backoffBaseMs: number; maxBackoffMs: number }) {}

  /** Whether an attempt is waiting out its back-off. */
  get waiting(): boolean {
    return this.timer !== undefined
  }

  /** Wait out the next back-off, then `run`. */
  schedule(run: () => void, rateLimited = false): void {
    this.cancel()
    const attempt = rateLimited ? Math.max(this.attempts, 3) : this.attempts
    const delay = reconnectDelay(attempt, {
      baseMs: this.options.backoffBaseMs,
      maxMs: this.options.maxBackoffMs,
    })
    this.attempts++
    this.rateLimited = rateLimited
    this.timer = setTimeout(() => {
      this.timer = undefined
      run()
    }, delay)
  }

  /** Earlier failures say nothing any more (a success, or "try now"). */
  reset(): void {
    this.attempts = 0
  }

  cancel(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }

  /**
   * The network is back: a back-off still running ends now, and true says to try at once. Not one
   * the server asked for (4429): a better network does not change that.
   */
  skip(): boolean {
    if (this.timer === undefined || this.rateLimited) return false
    this.cancel()
    this.attempts = 0
    return true
  }
}

import { TicksError } from '@ticks/core'

/**
 * Argument checks shared by the simulator and the proxy. A bad number here does not fail loudly by
 * itself: NaN makes simulated time stand still, a fractional seed silently replays another seed's
 * run, a probability of 5 means "always". So they are refused where they enter, with the caller named.
 */

/** Seeds feed a 32-bit PRNG: anything outside would collide with another seed's run. */
export const MAX_SEED = 2 ** 32 - 1

/** Node's timers cannot wait longer (they fire after 1 ms instead, with a warning). */
export const MAX_TIMER_MS = 2 ** 31 - 1

const invalid = (where: string, message: string): TicksError =>
  new TicksError('invalid-argument', `${where}: ${message}`)

const shown = (value: unknown): string => (typeof value === 'string' ? JSON.stringify(value) : String(value))

export function requireSeed(seed: unknown, where: string): number {
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
    throw invalid(where, `seed must be an integer from 0 to ${MAX_SEED} (got ${shown(seed)})`)
  }
  return seed
}

export function requireProbability(p: unknown, where: string): number {
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) {
    throw invalid(where, `must be a probability within [0, 1] (got ${shown(p)})`)
  }
  return p
}

/** A finite, non-negative number of milliseconds (at most `max`). */
export function requireMs(ms: unknown, where: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? '>= 0' : `within [0, ${max}]`
    throw invalid(where, `must be a finite number of ms ${range} (got ${shown(ms)})`)
  }
  return ms
}

export function requirePositiveInteger(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw invalid(where, `must be a positive integer (got ${shown(value)})`)
  }
  return value
}

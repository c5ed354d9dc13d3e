import { createHash } from 'node:crypto'
import type { Identity } from './authenticator.js'

/** Longest a verification is reused, even for a token without `exp` (jose keeps a JWKS 10 min). */
export const VERIFIED_TOKEN_MAX_AGE_MS = 5 * 60_000
export const DEFAULT_VERIFIED_TOKEN_CACHE = 10_000

interface Verified {
  identity: Identity
  /** Epoch ms after which the token must be verified again. */
  until: number
}

/**
 * Tokens jose verified lately, so that a client reconnecting with the same token (a network blip,
 * a reconnect storm, one user's tabs) is not verified again: through WebCrypto each verification
 * is an asynchronous HMAC job, the largest cost of opening a socket. Keyed by the token's SHA-256
 * (nothing of the request string is retained, and a token differing anywhere is a miss); an entry
 * lives until the token's `exp` (never past it: an expired token goes back to jose, which refuses
 * it with its clock tolerance), at most `VERIFIED_TOKEN_MAX_AGE_MS`; at most `capacity` entries,
 * the least recently used leaving first. A refused token is never kept.
 */
export class VerifiedTokens {
  private readonly entries = new Map<string, Verified>()

  constructor(
    private readonly capacity: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size
  }

  get(token: string): Identity | undefined {
    const key = digest(token)
    const entry = this.entries.get(key)
    if (!entry) return undefined
    this.entries.delete(key)
    if (this.now() >= entry.until) return undefined
    this.entries.set(key, entry) // most recently used last
    return entry.identity
  }

  /** Keep a verification; `exp` is the token's claim (seconds), if it has one. */
  set(token: string, identity: Identity, exp: number | undefined): void {
    if (this.capacity <= 0) return
    const now = this.now()
    const until = Math.min(now + VERIFIED_TOKEN_MAX_AGE_MS, exp === undefined ? Infinity : exp * 1000)
    if (until <= now) return
    const key = digest(token)
    this.entries.delete(key)
    if (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next()
      if (!oldest.done) this.entries.delete(oldest.value)
    }
    this.entries.set(key, { identity, until })
  }
}

const digest = (token: string): string => createHash('sha256').update(token).digest('base64')

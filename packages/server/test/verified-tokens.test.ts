import { SignJWT } from 'jose'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { AuthError } from '../src/auth/authenticator.js'
import { createAuthenticator } from '../src/auth/jwt.js'
import { VERIFIED_TOKEN_MAX_AGE_MS, VerifiedTokens } from '../src/auth/verified-tokens.js'

const SECRET = 'verified-tokens-test-secret-0123456789'
const key = new TextEncoder().encode(SECRET)

const sign = (userId: string, expiresInSeconds?: number) => {
  const jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(userId).setIssuedAt()
  if (expiresInSeconds !== undefined) jwt.setExpirationTime(Math.floor(Date.now() / 1000) + expiresInSeconds)
  return jwt.sign(key)
}

/** Counts the HMAC verifications jose asks WebCrypto for: one per token actually checked. */
const countVerifications = () => vi.spyOn(crypto.subtle, 'verify')

afterEach(() => {
  vi.restoreAllMocks()
})

describe('verified tokens (jose runs once per token)', () => {
  it('verifies a token once and reuses the identity for the same token', async () => {
    const auth = createAuthenticator({ jwtSecret: SECRET })
    const token = await sign('alice', 3600)
    const verifications = countVerifications()
    expect(await auth.verify(token)).toEqual({ userId: 'alice', admin: false })
    expect(await auth.verify(token)).toEqual({ userId: 'alice', admin: false })
    expect(verifications).toHaveBeenCalledTimes(1)
    // Another user's token is another entry: verified on its own.
    expect(await auth.verify(await sign('bob', 3600))).toEqual({ userId: 'bob', admin: false })
    expect(verifications).toHaveBeenCalledTimes(2)
  })

  it('never keeps a refused token, nor lets a token differing in one character hit', async () => {
    const auth = createAuthenticator({ jwtSecret: SECRET })
    const token = await sign('alice', 3600)
    await auth.verify(token)
    const [header, payload, signature] = token.split('.') as [string, string, string]
    const forged = `${header}.${Buffer.from(JSON.stringify({ sub: 'mallory' })).toString('base64url')}.${signature}`
    // The first character: the last one of a 32-byte signature has 2 low bits base64url ignores,
    // so A, B, C and D there decode alike (this test failed so, 1 run in 16).
    const first = signature[0] === 'A' ? 'B' : 'A'
    const badSignature = `${header}.${payload}.${first}${signature.slice(1)}`
    const verifications = countVerifications()
    for (const bad of [forged, badSignature, forged]) {
      await expect(auth.verify(bad)).rejects.toBeInstanceOf(AuthError)
    }
    expect(verifications).toHaveBeenCalledTimes(3)
  })

  it('honours exp: a token that expired since it was verified is refused by jose again', async () => {
    const auth = createAuthenticator({ jwtSecret: SECRET, clockToleranceSeconds: 0 })
    const token = await sign('alice', 1)
    expect((await auth.verify(token)).userId).toBe('alice')
    await new Promise((resolve) => setTimeout(resolve, 2100))
    await expect(auth.verify(token)).rejects.toThrow('token expired')
  })

  it('with a cache of 0, verifies every time', async () => {
    const auth = createAuthenticator({ jwtSecret: SECRET, verifiedTokenCache: 0 })
    const token = await sign('alice', 3600)
    const verifications = countVerifications()
    await auth.verify(token)
    await auth.verify(token)
    expect(verifications).toHaveBeenCalledTimes(2)
  })
})

describe('VerifiedTokens', () => {
  const alice = { userId: 'alice', admin: false }
  const bob = { userId: 'bob', admin: true }
  const carol = { userId: 'carol', admin: false }

  it('holds at most its capacity, the least recently used leaving first', () => {
    const cache = new VerifiedTokens(2)
    cache.set('token-a', alice, undefined)
    cache.set('token-b', bob, undefined)
    expect(cache.get('token-a')).toBe(alice) // a is now the most recently used
    cache.set('token-c', carol, undefined)
    expect(cache.size).toBe(2)
    expect(cache.get('token-b')).toBeUndefined()
    expect(cache.get('token-a')).toBe(alice)
    expect(cache.get('token-c')).toBe(carol)
  })

  it('forgets an entry at exp, and any entry after the longest age', () => {
    let now = 1_000_000
    const cache = new VerifiedTokens(10, () => now)
    cache.set('expiring', alice, now / 1000 + 60)
    cache.set('no-exp', bob, undefined)
    cache.set('expired', carol, now / 1000 - 1)
    expect(cache.get('expired')).toBeUndefined()
    now += 59_999
    expect(cache.get('expiring')).toBe(alice)
    now += 1
    expect(cache.get('expiring')).toBeUndefined()
    expect(cache.get('no-exp')).toBe(bob)
    now += VERIFIED_TOKEN_MAX_AGE_MS
    expect(cache.get('no-exp')).toBeUndefined()
    expect(cache.size).toBe(0)
  })
})

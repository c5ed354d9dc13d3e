import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createRemoteJWKSet, type JWTPayload, jwtVerify, SignJWT } from 'jose'
import { AuthError, type Authenticator } from './authenticator.js'

export interface AuthOptions {
  jwtSecret?: string | undefined
  jwksUrl?: string | undefined
  /** Where dev mode keeps its generated secret; undefined keeps it in memory (memory store). */
  dataDir?: string | undefined
}

const DEV_SECRET_FILE = 'dev-jwt-secret'
const DEV_TOKEN_LIFETIME = '30d'

/** JWT auth with jose: HS256 with a shared secret, a JWKS URL, or dev mode when neither is set. */
export function createAuthenticator(options: AuthOptions): Authenticator {
  if (options.jwksUrl) {
    const keys = createRemoteJWKSet(new URL(options.jwksUrl))
    return { mode: 'jwks', verify: (token) => verifyWith(token, (t) => jwtVerify(t, keys)) }
  }
  if (options.jwtSecret) {
    const key = hmacKey(new TextEncoder().encode(options.jwtSecret))
    return {
      mode: 'secret',
      verify: (token) => verifyWith(token, async (t) => jwtVerify(t, await key, { algorithms: ['HS256'] })),
    }
  }
  const secret = devSecret(options.dataDir)
  const key = hmacKey(secret)
  return {
    mode: 'dev',
    verify: (token) => verifyWith(token, async (t) => jwtVerify(t, await key, { algorithms: ['HS256'] })),
    issue: (userId) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(userId)
        .setIssuedAt()
        .setExpirationTime(DEV_TOKEN_LIFETIME)
        .sign(secret),
  }
}

async function verifyWith(
  token: string | undefined,
  verify: (token: string) => Promise<{ payload: JWTPayload }>,
): Promise<{ userId: string }> {
  if (!token) throw new AuthError('missing token')
  let payload: JWTPayload
  try {
    ;({ payload } = await verify(token))
  } catch {
    // jose's message may quote claims; the token itself is never logged or echoed.
    throw new AuthError('invalid token')
  }
  if (typeof payload.sub !== 'string' || payload.sub.length === 0) throw new AuthError('token has no sub')
  return { userId: payload.sub }
}

/**
 * The secret imported once as a WebCrypto key: given raw bytes, jose imports them again on every
 * verify, which made each socket's handshake 2–6× slower (a thundering herd of reconnects pays it
 * thousands of times).
 */
function hmacKey(secret: Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])
}

/** A secret that survives restarts (tokens stay valid), kept beside the data it protects. */
function devSecret(dataDir: string | undefined): Uint8Array<ArrayBuffer> {
  if (!dataDir) return randomBytes(32)
  const file = join(dataDir, DEV_SECRET_FILE)
  try {
    return new Uint8Array(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64'))
  } catch {
    mkdirSync(dataDir, { recursive: true })
    const secret = randomBytes(32)
    writeFileSync(file, secret.toString('base64'), { mode: 0o600 })
    return new Uint8Array(secret)
  }
}

/** The token from `Authorization: Bearer …`. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(header ?? '')
  return match?.[1]
}

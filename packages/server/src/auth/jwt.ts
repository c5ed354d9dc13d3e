import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  createRemoteJWKSet,
  errors,
  type FlattenedJWSInput,
  type JWSHeaderParameters,
  type JWTPayload,
  type JWTVerifyOptions,
  jwtVerify,
  SignJWT,
} from 'jose'
import { DEFAULT_JWT_CLOCK_TOLERANCE_SECONDS, MIN_JWT_SECRET_BYTES } from '../options.js'
import { AuthError, type Authenticator, AuthUnavailableError, type Identity } from './authenticator.js'
import { DEFAULT_VERIFIED_TOKEN_CACHE, VerifiedTokens } from './verified-tokens.js'

/** The claim, or the scope, that lets a token post announcements (issue 16). */
export const ADMIN_CLAIM = 'ticks_admin'
export const ADMIN_SCOPE = 'ticks:admin'

export interface AuthOptions {
  jwtSecret?: string | undefined
  jwksUrl?: string | undefined
  /** With `jwtSecret`: also sign tokens for any user (`issue`), as dev mode does with its own secret. */
  devSessions?: boolean | undefined
  /** Tokens must name one of these in `aud` (unchecked when undefined or empty). */
  audience?: string | string[] | undefined
  /** Tokens must have one of these as `iss` (unchecked when undefined or empty). */
  issuer?: string | string[] | undefined
  /** Leeway for `nbf` and `exp` between the issuer's clock and ours (default 30 s). */
  clockToleranceSeconds?: number | undefined
  /** Where dev mode keeps its generated secret; undefined keeps it in memory (memory store). */
  dataDir?: string | undefined
  /** Where to say that the dev secret file is readable by others, or was empty and replaced. */
  log?: { warn(obj: object, msg: string): void }
  /** Verified tokens kept for reuse (default 10,000; 0: verify every time). See `VerifiedTokens`. */
  verifiedTokenCache?: number | undefined
  /** The clock of that cache (tests). */
  now?: () => number
}

const DEV_SECRET_FILE = 'dev-jwt-secret'
/**
 * jose errors of a key resolver that are about the token (no key with its kid or alg), not about
 * the JWKS endpoint being unreachable or broken.
 */
const TOKEN_KEY_ERRORS = new Set([
  'ERR_JWKS_NO_MATCHING_KEY',
  'ERR_JWKS_MULTIPLE_MATCHING_KEYS',
  'ERR_JOSE_NOT_SUPPORTED',
])
const DEV_TOKEN_LIFETIME = '30d'

/**
 * JWT auth with jose: HS256 with a shared secret, a JWKS URL, or dev mode when neither is set.
 * Dev mode, and a shared secret with `devSessions`, also issue tokens for any user.
 */
export function createAuthenticator(options: AuthOptions): Authenticator {
  const claims = claimChecks(options)
  const verified = new VerifiedTokens(options.verifiedTokenCache ?? DEFAULT_VERIFIED_TOKEN_CACHE, options.now)
  const verifyWith = (token: string | undefined, verify: JoseVerify) => verifyCached(token, verify, verified)
  if (options.jwksUrl) {
    // A JWKS holds public keys only: nothing this server could sign a session with.
    if (options.devSessions) throw new Error('dev sessions need a JWT secret to sign with, not a JWKS URL')
    const keys = remoteKeys(new URL(options.jwksUrl))
    return { mode: 'jwks', verify: (token) => verifyWith(token, (t) => jwtVerify(t, keys, claims)) }
  }
  const hs256 = { ...claims, algorithms: ['HS256'] }
  if (options.jwtSecret) {
    const secret = new TextEncoder().encode(options.jwtSecret)
    const key = hmacKey(secret)
    return {
      mode: 'secret',
      verify: (token) => verifyWith(token, async (t) => jwtVerify(t, await key, hs256)),
      ...(options.devSessions && {
        issue: (userId: string, issued?: { admin?: boolean }) => issueToken(userId, secret, claims, issued),
      }),
    }
  }
  const secret = devSecret(options.dataDir, options.log)
  const key = hmacKey(secret)
  return {
    mode: 'dev',
    verify: (token) => verifyWith(token, async (t) => jwtVerify(t, await key, hs256)),
    issue: (userId, issued) => issueToken(userId, secret, claims, issued),
  }
}

/** jose's claim checks from the options: an empty list checks nothing, as an absent one. */
function claimChecks(options: AuthOptions): JWTVerifyOptions {
  const listed = (value: string | string[] | undefined) =>
    value === undefined || value.length === 0 ? undefined : value
  const audience = listed(options.audience)
  const issuer = listed(options.issuer)
  return {
    ...(audience !== undefined && { audience }),
    ...(issuer !== undefined && { issuer }),
    clockTolerance: options.clockToleranceSeconds ?? DEFAULT_JWT_CLOCK_TOLERANCE_SECONDS,
  }
}

/**
 * A token for anyone who asks: what dev mode and dev sessions hand out, with the audience and
 * issuer this server checks, so its own tokens pass.
 */
function issueToken(
  userId: string,
  secret: Uint8Array,
  claims: JWTVerifyOptions,
  issued: { admin?: boolean } = {},
): Promise<string> {
  const token = new SignJWT(issued.admin ? { [ADMIN_CLAIM]: true } : {})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime(DEV_TOKEN_LIFETIME)
  const first = (value: string | string[]) => (Array.isArray(value) ? value[0]! : value)
  if (claims.audience !== undefined) token.setAudience(first(claims.audience))
  if (claims.issuer !== undefined) token.setIssuer(first(claims.issuer))
  return token.sign(secret)
}

type JoseVerify = (token: string) => Promise<{ payload: JWTPayload }>

async function verifyCached(
  token: string | undefined,
  verify: JoseVerify,
  verified: VerifiedTokens,
): Promise<Identity> {
  if (!token) throw new AuthError('missing token')
  const known = verified.get(token)
  if (known) return known
  const { identity, exp } = await verifyWithJose(token, verify)
  verified.set(token, identity, exp)
  return identity
}

async function verifyWithJose(
  token: string,
  verify: JoseVerify,
): Promise<{ identity: Identity; exp: number | undefined }> {
  let payload: JWTPayload
  try {
    ;({ payload } = await verify(token))
  } catch (error) {
    if (error instanceof AuthUnavailableError) throw error
    // Which check failed, so that a client knows to refresh and an operator sees a misconfigured
    // audience or issuer; jose's own message may quote claims, and the token is never echoed.
    throw new AuthError(refusalReason(error))
  }
  if (typeof payload.sub !== 'string' || payload.sub.length === 0) throw new AuthError('token has no sub')
  const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ') : []
  return {
    identity: { userId: payload.sub, admin: payload[ADMIN_CLAIM] === true || scopes.includes(ADMIN_SCOPE) },
    exp: payload.exp,
  }
}

function refusalReason(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'token expired'
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return 'token not yet valid'
    if (error.claim === 'aud') return 'token audience not accepted'
    if (error.claim === 'iss') return 'token issuer not accepted'
  }
  return 'invalid token'
}

/**
 * The secret imported once as a WebCrypto key: given raw bytes, jose imports them again on every
 * verify, which made each socket's handshake 2–6× slower (a thundering herd of reconnects pays it
 * thousands of times).
 */
function hmacKey(secret: Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])
}

/**
 * The identity provider's keys, fetched and cached by jose. A failure to fetch or parse them is
 * an outage, not a bad token: it becomes AuthUnavailableError, with the cause for the log.
 */
function remoteKeys(url: URL) {
  const keys = createRemoteJWKSet(url)
  return async (header: JWSHeaderParameters, token: FlattenedJWSInput) => {
    try {
      return await keys(header, token)
    } catch (error) {
      const code = (error as { code?: unknown }).code
      if (typeof code === 'string' && TOKEN_KEY_ERRORS.has(code)) throw error
      throw new AuthUnavailableError(
        `cannot fetch the signing keys from ${url.origin}: ${(error as Error).message ?? error}`,
        { cause: error },
      )
    }
  }
}

/** A secret that survives restarts (tokens stay valid), kept beside the data it protects. */
function devSecret(dataDir: string | undefined, log: AuthOptions['log']): Uint8Array<ArrayBuffer> {
  if (!dataDir) return new Uint8Array(randomBytes(MIN_JWT_SECRET_BYTES))
  const file = join(dataDir, DEV_SECRET_FILE)
  let stored: string | undefined
  try {
    stored = readFileSync(file, 'utf8').trim()
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  if (stored) {
    const secret = new Uint8Array(Buffer.from(stored, 'base64'))
    if (secret.byteLength < MIN_JWT_SECRET_BYTES) {
      throw new Error(
        `${file} holds ${secret.byteLength} bytes of secret, fewer than ${MIN_JWT_SECRET_BYTES}: delete it to generate a new one (dev tokens signed with it stop working)`,
      )
    }
    if ((statSync(file).mode & 0o077) !== 0) {
      log?.warn({ file }, 'the dev token secret is readable by other users of this machine: chmod 600 it')
    }
    return secret
  }
  // Nothing there, or an empty file left by a crash mid-write: no token was ever valid under it.
  if (stored === '') log?.warn({ file }, 'the dev token secret file was empty: a new secret replaces it')
  mkdirSync(dataDir, { recursive: true })
  const secret = randomBytes(MIN_JWT_SECRET_BYTES)
  // Written whole or not at all: a crash must not leave a short secret behind.
  const partial = `${file}.${process.pid}.tmp`
  writeFileSync(partial, secret.toString('base64'), { mode: 0o600 })
  renameSync(partial, file)
  return new Uint8Array(secret)
}

/** The token from `Authorization: Bearer …`. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(header ?? '')
  return match?.[1]
}

/**
 * Signed messages (DESIGN section 13, issue 16): the entries a user writes in their own root to
 * make their messages verifiable end to end.
 *
 * - `k|<keyId>` → `KeyRecord`: a public key of one of the user's devices. Immutable, except that
 *   any device of the user may revoke it (the same record plus `revokedAt`); a revoked key never
 *   comes back, so a lost device's key cannot be revived by whoever holds the device.
 * - `s|<messageId>` → `SignatureRecord`: the signature of the message `m|<messageId>` beside it.
 *   Its own entry, not a field of the message, so `send()` stays synchronous (WebCrypto signs
 *   asynchronously) and stock y-websocket clients keep writing plain messages (shown unverified).
 *   Written once; it leaves the document with its message (a discard, a deletion for everyone,
 *   or the seal, which moves it into the sealed record).
 * - `se|<messageId>` → `EditSignatureRecord`: the signature of the author's latest edit
 *   (`e|<messageId>`, issue 17), naming the edit's `editedAt`. Its own entry, not a field of the
 *   edit, so signing does not take a second `e|` write (edits are rate-limited); replaced only by
 *   the signature of a newer edit.
 *
 * The root rule already makes these unforgeable by other members; the server checks their shape.
 */
import { DEFAULT_LIMITS, isValidId, type Limits } from './schema.js'

export const KEY_RECORD_PREFIX = 'k|'
export const SIGNATURE_KEY_PREFIX = 's|'
export const EDIT_SIGNATURE_KEY_PREFIX = 'se|'

export interface KeyRecord {
  /** The raw 32-byte Ed25519 public key, base64url without padding. */
  publicKey: string
  createdAt: number
  /** Set once, by a device of the same user: every message this key signed shows unverified. */
  revokedAt?: number
}

export interface SignatureRecord {
  /** The id of the key (`k|<key>` in the same root) that made the signature. */
  key: string
  /** The raw 64-byte Ed25519 signature, base64url without padding. */
  sig: string
}

/** The signature of an edit: which edit it covers is its `editedAt` (the `e|` entry's). */
export interface EditSignatureRecord extends SignatureRecord {
  editedAt: number
}

export const keyRecordKey = (keyId: string): string => KEY_RECORD_PREFIX + keyId
export const signatureKey = (messageId: string): string => SIGNATURE_KEY_PREFIX + messageId
export const editSignatureKey = (messageId: string): string => EDIT_SIGNATURE_KEY_PREFIX + messageId

/** base64url without padding of exactly `bytes` bytes (the last character carries only the rest). */
const base64urlOfLength = (bytes: number): RegExp => {
  const chars = Math.ceil((bytes * 4) / 3)
  const tail = bytes % 3 === 1 ? '[AQgw]' : bytes % 3 === 2 ? '[AEIMQUYcgkosw048]' : '[A-Za-z0-9_-]'
  return new RegExp(`^[A-Za-z0-9_-]{${chars - 1}}${tail}$`)
}
const PUBLIC_KEY_PATTERN = base64urlOfLength(32)
const SIGNATURE_PATTERN = base64urlOfLength(64)

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0
/** Exactly these fields (some optional): an extra field would be a second, unsigned channel. */
const hasOnlyFields = (value: Record<string, unknown>, allowed: readonly string[]): boolean =>
  Object.keys(value).every((field) => allowed.includes(field))

/** Why a key record is malformed, or undefined when it is well formed. */
export function keyRecordProblem(value: unknown): string | undefined {
  if (!isPlainObject(value)) return 'a key record is not an object'
  if (!hasOnlyFields(value, ['publicKey', 'createdAt', 'revokedAt']))
    return 'a key record is { publicKey, createdAt, revokedAt? }'
  if (typeof value.publicKey !== 'string' || !PUBLIC_KEY_PATTERN.test(value.publicKey))
    return 'a key record publicKey is 32 bytes of base64url'
  if (!isTime(value.createdAt)) return 'a key record createdAt is not a time'
  if (value.revokedAt !== undefined && !isTime(value.revokedAt)) return 'a key record revokedAt is not a time'
  return undefined
}

/** Why a signature entry is malformed, or undefined when it is well formed. */
export function signatureRecordProblem(value: unknown, limits: Limits = DEFAULT_LIMITS): string | undefined {
  if (!isPlainObject(value)) return 'a signature is not an object'
  if (!hasOnlyFields(value, ['key', 'sig'])) return 'a signature is { key, sig }'
  if (typeof value.key !== 'string' || !isValidId(value.key, limits))
    return 'a signature names an invalid key id'
  if (typeof value.sig !== 'string' || !SIGNATURE_PATTERN.test(value.sig))
    return 'a signature sig is 64 bytes of base64url'
  return undefined
}

/** Why an edit's signature entry is malformed, or undefined when it is well formed. */
export function editSignatureRecordProblem(
  value: unknown,
  limits: Limits = DEFAULT_LIMITS,
): string | undefined {
  if (!isPlainObject(value)) return 'an edit signature is not an object'
  if (!hasOnlyFields(value, ['key', 'sig', 'editedAt'])) return 'an edit signature is { key, sig, editedAt }'
  if (typeof value.key !== 'string' || !isValidId(value.key, limits))
    return 'an edit signature names an invalid key id'
  if (typeof value.sig !== 'string' || !SIGNATURE_PATTERN.test(value.sig))
    return 'an edit signature sig is 64 bytes of base64url'
  if (typeof value.editedAt !== 'number' || !Number.isFinite(value.editedAt))
    return 'an edit signature editedAt is not a number'
  return undefined
}

export const isKeyRecord = (value: unknown): value is KeyRecord => keyRecordProblem(value) === undefined
export const isSignatureRecord = (value: unknown): value is SignatureRecord =>
  signatureRecordProblem(value) === undefined
export const isEditSignatureRecord = (value: unknown): value is EditSignatureRecord =>
  editSignatureRecordProblem(value) === undefined

/**
 * Why `next` may not replace the key record `current`, or undefined when it may. Allowed: the same
 * record again (two tabs of one device publish their shared key concurrently), its revocation, and
 * a revoked record revoked again (two devices may revoke it concurrently).
 */
export function keyRecordChangeProblem(current: KeyRecord, next: KeyRecord): string | undefined {
  if (next.publicKey !== current.publicKey || next.createdAt !== current.createdAt)
    return 'a published key cannot change'
  if (current.revokedAt !== undefined && next.revokedAt === undefined) return 'a revoked key cannot come back'
  return undefined
}

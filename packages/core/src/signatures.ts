/**
 * Ed25519 signatures over messages (DESIGN section 13), with WebCrypto (Node 20 and browsers).
 *
 * What is signed is a canonical byte string: the UTF-8 of a JSON array of strings and numbers,
 * which every engine serialises alike, led by a version tag and a kind, so that a message's
 * signature can never pass as an edit's (or as a future kind's), and a signature made in one
 * conversation never verifies in another.
 */
import { fromBase64UrlEncoded, toBase64UrlEncoded } from 'lib0/buffer'
import { randomId } from './ids.js'

const SIGNATURE_VERSION = 'ticks-sig/1'
const ALGORITHM = { name: 'Ed25519' } as const

/** What a signature covers: a message as sent, or (issue 17) an edit of its text. */
export type SignedPayload =
  | {
      kind: 'message'
      conversationId: string
      messageId: string
      author: string
      text: string
      createdAt: number
    }
  | {
      kind: 'edit'
      conversationId: string
      messageId: string
      author: string
      text: string
      editedAt: number
    }

/** The canonical text of a payload (its UTF-8 is what is signed); equal payloads, equal texts. */
export function signedPayloadText(payload: SignedPayload): string {
  const time = payload.kind === 'message' ? payload.createdAt : payload.editedAt
  const fields = [
    SIGNATURE_VERSION,
    payload.kind,
    payload.conversationId,
    payload.messageId,
    payload.author,
    payload.text,
    time,
  ]
  return JSON.stringify(fields)
}

export const encodeSignedPayload = (payload: SignedPayload): Uint8Array<ArrayBuffer> =>
  new TextEncoder().encode(signedPayloadText(payload))

/** A device's key pair: the private half never leaves the device (non-extractable by default). */
export interface SigningKey {
  keyId: string
  privateKey: CryptoKey
  /** The raw 32-byte public key, base64url: what `k|<keyId>` publishes. */
  publicKey: string
  createdAt: number
}

const subtle = (): SubtleCrypto => {
  const crypto = globalThis.crypto?.subtle
  if (!crypto) throw new Error('WebCrypto (crypto.subtle) is not available here')
  return crypto
}

export async function generateSigningKey(now: number = Date.now()): Promise<SigningKey> {
  const pair = (await subtle().generateKey(ALGORITHM, false, ['sign', 'verify'])) as CryptoKeyPair
  const raw = new Uint8Array(await subtle().exportKey('raw', pair.publicKey))
  return {
    keyId: randomId(),
    privateKey: pair.privateKey,
    publicKey: toBase64UrlEncoded(raw),
    createdAt: now,
  }
}

/** The signature of `payload`, base64url (86 characters). */
export async function signPayload(privateKey: CryptoKey, payload: SignedPayload): Promise<string> {
  const signature = await subtle().sign(ALGORITHM, privateKey, encodeSignedPayload(payload))
  return toBase64UrlEncoded(new Uint8Array(signature))
}

/** Imported public keys by their base64url form: importing costs about as much as a verify. */
const importedKeys = new Map<string, Promise<CryptoKey>>()
const MAX_IMPORTED_KEYS = 1024

function importPublicKey(publicKey: string): Promise<CryptoKey> {
  let key = importedKeys.get(publicKey)
  if (!key) {
    if (importedKeys.size >= MAX_IMPORTED_KEYS) importedKeys.clear()
    const raw = new Uint8Array(fromBase64UrlEncoded(publicKey))
    key = subtle().importKey('raw', raw, ALGORITHM, false, ['verify'])
    importedKeys.set(publicKey, key)
    // A key that fails to import is not kept: the next call reports it again, never a stale success.
    key.catch(() => importedKeys.delete(publicKey))
  }
  return key
}

/**
 * Whether `signature` is `publicKey`'s over `payload`. False for anything malformed (a key or a
 * signature of the wrong length, bad base64url): a bad input is an unverified message, not an error.
 */
export async function verifyPayload(
  publicKey: string,
  signature: string,
  payload: SignedPayload,
): Promise<boolean> {
  try {
    const key = await importPublicKey(publicKey)
    const bytes = new Uint8Array(fromBase64UrlEncoded(signature))
    return await subtle().verify(ALGORITHM, key, bytes, encodeSignedPayload(payload))
  } catch {
    return false
  }
}

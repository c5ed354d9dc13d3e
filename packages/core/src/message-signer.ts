/**
 * Signing what this replica sends (DESIGN section 13). `send()` stays synchronous; the signature
 * (WebCrypto, asynchronous) follows it as its own entry a moment later, with the key that made it
 * published in the same transaction the first time this conversation needs it.
 */
import type * as Y from 'yjs'
import { messageKey, userRoot } from './schema.js'
import { type SigningKey, signPayload } from './signatures.js'
import { publishedKey, signatureEntryOf, writeSignature } from './signed-entries.js'

export interface SignableMessage {
  id: string
  text: string
  createdAt: number
}

export type SignOutcome =
  | 'signed'
  /** Already signed (by this device, before), or the message is gone (discarded), or the doc closed. */
  | 'skipped'
  /** This key was revoked here: sign with another (a revoked key never verifies again). */
  | 'key-revoked'

/** Sign `message` of `userId` in `doc` with `key` and write the signature (origin: the writer's). */
export async function signMessage(
  doc: Y.Doc,
  userId: string,
  message: SignableMessage,
  key: SigningKey,
  origin: unknown,
): Promise<SignOutcome> {
  if (publishedKey(doc, userId, key.keyId)?.revokedAt !== undefined) return 'key-revoked'
  const sig = await signPayload(key.privateKey, {
    kind: 'message',
    conversationId: doc.guid,
    messageId: message.id,
    author: userId,
    text: message.text,
    createdAt: message.createdAt,
  })
  // The world may have moved while WebCrypto worked: a signature is immutable, so never write a
  // second one, nor one for a message discarded meanwhile (an orphan the server would keep).
  if (doc.isDestroyed) return 'skipped'
  const entry = doc.share.get(userRoot(userId))?._map.get(messageKey(message.id))
  if (!entry || entry.deleted) return 'skipped'
  if (signatureEntryOf(doc, userId, message.id) !== undefined) return 'skipped'
  if (publishedKey(doc, userId, key.keyId)?.revokedAt !== undefined) return 'key-revoked'
  writeSignature(doc, userId, message.id, key, sig, origin)
  return 'signed'
}

/**
 * Signing what this replica sends (DESIGN section 13). `send()` stays synchronous; the signature
 * (WebCrypto, asynchronous) follows it as its own entry a moment later, with the key that made it
 * published in the same transaction the first time this conversation needs it.
 */
import * as Y from 'yjs'
import { type EditRecord, editKey, editRecordProblem, messageKey, userRoot } from './schema.js'
import { isEditSignatureRecord } from './signature-records.js'
import { type SigningKey, signPayload } from './signatures.js'
import {
  editSignatureEntryOf,
  publishedKey,
  signatureEntryOf,
  writeEditSignature,
  writeSignature,
} from './signed-entries.js'

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

/** The author's current edit of a message in `doc`, if well formed. */
function currentEdit(doc: Y.Doc, userId: string, messageId: string): EditRecord | undefined {
  const item = doc.share.get(userRoot(userId))?._map.get(editKey(messageId))
  if (!item || item.deleted || !(item.content instanceof Y.ContentAny)) return undefined
  const value = item.content.arr[0]
  return editRecordProblem(value) === undefined ? (value as EditRecord) : undefined
}

/**
 * Sign `userId`'s latest edit of a message (issue 17), as `edit()` just wrote it: the signature
 * covers its text and `editedAt` and replaces the previous edit's (`se|<messageId>`).
 */
export async function signEdit(
  doc: Y.Doc,
  userId: string,
  messageId: string,
  key: SigningKey,
  origin: unknown,
): Promise<SignOutcome> {
  if (publishedKey(doc, userId, key.keyId)?.revokedAt !== undefined) return 'key-revoked'
  const edit = currentEdit(doc, userId, messageId)
  if (!edit || isSignedEdit(doc, userId, messageId, edit.editedAt)) return 'skipped'
  const { text, editedAt } = edit
  const sig = await signPayload(key.privateKey, {
    kind: 'edit',
    conversationId: doc.guid,
    messageId,
    author: userId,
    text,
    editedAt,
  })
  // A newer edit made meanwhile is signed by its own call; one deleted for everyone needs none.
  if (doc.isDestroyed) return 'skipped'
  const now = currentEdit(doc, userId, messageId)
  if (!now || now.editedAt !== editedAt || now.text !== text) return 'skipped'
  if (isSignedEdit(doc, userId, messageId, editedAt)) return 'skipped'
  if (publishedKey(doc, userId, key.keyId)?.revokedAt !== undefined) return 'key-revoked'
  writeEditSignature(doc, userId, messageId, key, sig, editedAt, origin)
  return 'signed'
}

/** Whether the edit signature held already covers an edit at `editedAt` or a later one. */
function isSignedEdit(doc: Y.Doc, userId: string, messageId: string, editedAt: number): boolean {
  const entry = editSignatureEntryOf(doc, userId, messageId)
  return isEditSignatureRecord(entry) && entry.editedAt >= editedAt
}

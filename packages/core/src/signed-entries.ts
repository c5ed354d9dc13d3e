/**
 * Reading and writing the signed-message entries of a conversation's document: published keys,
 * revocations and signatures (the shapes are in signature-records.ts).
 */
import * as Y from 'yjs'
import { rootOfAuthor, userRoot } from './schema.js'
import {
  type EditSignatureRecord,
  editSignatureKey,
  isKeyRecord,
  isSignatureRecord,
  KEY_RECORD_PREFIX,
  type KeyRecord,
  keyRecordKey,
  type SignatureRecord,
  signatureKey,
} from './signature-records.js'
import type { SigningKey } from './signatures.js'

/**
 * The live value of an entry, without creating the root (`doc.getMap` would, on every replica
 * that merely looks).
 */
function entryOf(doc: Y.Doc, root: string, key: string): unknown {
  const item = doc.share.get(root)?._map.get(key)
  if (!item || item.deleted || !(item.content instanceof Y.ContentAny)) return undefined
  return item.content.arr[0]
}

/** A key `userId` published here, or undefined (none, or malformed). */
export function publishedKey(doc: Y.Doc, userId: string, keyId: string): KeyRecord | undefined {
  const value = entryOf(doc, userRoot(userId), keyRecordKey(keyId))
  return isKeyRecord(value) ? value : undefined
}

/** Every well-formed key `userId` published here, revoked ones included, by key id. */
export function publishedKeys(doc: Y.Doc, userId: string): Record<string, KeyRecord> {
  const keys: Record<string, KeyRecord> = {}
  for (const [key, item] of doc.share.get(userRoot(userId))?._map ?? []) {
    if (!key.startsWith(KEY_RECORD_PREFIX) || item.deleted) continue
    const value = item.content instanceof Y.ContentAny ? item.content.arr[0] : undefined
    if (isKeyRecord(value)) keys[key.slice(KEY_RECORD_PREFIX.length)] = value
  }
  return keys
}

/** The signature entry of a message, whatever its shape (undefined: none). */
export const signatureEntryOf = (doc: Y.Doc, author: string, messageId: string): unknown =>
  entryOf(doc, rootOfAuthor(author), signatureKey(messageId))

/** The signature entry of a message's latest edit, whatever its shape (undefined: none). */
export const editSignatureEntryOf = (doc: Y.Doc, author: string, messageId: string): unknown =>
  entryOf(doc, rootOfAuthor(author), editSignatureKey(messageId))

/**
 * The signature of a message being sealed, read from its `s|` entry even when the transaction
 * that seals it has just deleted it (its content stays until the transaction is cleaned up), so
 * that a replica holding the message when it is sealed keeps the signature with its sealed copy.
 */
export function signatureOfSealed(
  doc: Y.Doc,
  author: string,
  messageId: string,
): SignatureRecord | undefined {
  const item = doc.share.get(rootOfAuthor(author))?._map.get(signatureKey(messageId))
  const value = item?.content instanceof Y.ContentAny ? item.content.arr[0] : undefined
  return isSignatureRecord(value) ? { key: value.key, sig: value.sig } : undefined
}

/**
 * Write a message's signature, publishing the signing key in the same transaction if this
 * conversation does not have it yet (so a recipient never meets the signature without its key).
 */
export function writeSignature(
  doc: Y.Doc,
  userId: string,
  messageId: string,
  key: SigningKey,
  sig: string,
  origin: unknown,
): void {
  const signature: SignatureRecord = { key: key.keyId, sig }
  writeWithKey(doc, userId, key, signatureKey(messageId), signature, origin)
}

/** Write the signature of an edit (replacing the previous edit's), publishing the key as above. */
export function writeEditSignature(
  doc: Y.Doc,
  userId: string,
  messageId: string,
  key: SigningKey,
  sig: string,
  editedAt: number,
  origin: unknown,
): void {
  const signature: EditSignatureRecord = { key: key.keyId, sig, editedAt }
  writeWithKey(doc, userId, key, editSignatureKey(messageId), signature, origin)
}

function writeWithKey(
  doc: Y.Doc,
  userId: string,
  key: SigningKey,
  entryKey: string,
  value: SignatureRecord,
  origin: unknown,
): void {
  const root = userRoot(userId)
  doc.transact(() => {
    const map = doc.getMap(root)
    if (entryOf(doc, root, keyRecordKey(key.keyId)) === undefined) {
      const record: KeyRecord = { publicKey: key.publicKey, createdAt: key.createdAt }
      map.set(keyRecordKey(key.keyId), record)
    }
    map.set(entryKey, value)
  }, origin)
}

/** Drop a message's signature with the message (a discarded, never-stamped message). */
export function deleteSignature(doc: Y.Doc, userId: string, messageId: string, origin: unknown): void {
  const root = userRoot(userId)
  if (entryOf(doc, root, signatureKey(messageId)) === undefined) return
  doc.transact(() => doc.getMap(root).delete(signatureKey(messageId)), origin)
}

/**
 * Revoke one of `userId`'s keys published here: every message it signed shows unverified from now
 * on. Returns false when the key is not published here or already revoked.
 */
export function revokeKey(doc: Y.Doc, userId: string, keyId: string, at: number, origin: unknown): boolean {
  const current = publishedKey(doc, userId, keyId)
  if (!current || current.revokedAt !== undefined) return false
  const revoked: KeyRecord = { publicKey: current.publicKey, createdAt: current.createdAt, revokedAt: at }
  doc.transact(() => doc.getMap(userRoot(userId)).set(keyRecordKey(keyId), revoked), origin)
  return true
}

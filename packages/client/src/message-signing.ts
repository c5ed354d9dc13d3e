/**
 * Signs what this replica sends, right after `send()` (which stays synchronous): the signature and,
 * the first time in a conversation, the device's public key follow the message as one small write.
 * Edits likewise, right after `edit()` (issue 17).
 */
import { type SignableMessage, type SigningKey, type SignOutcome, signEdit, signMessage } from '@ticks/core'
import type * as Y from 'yjs'
import type { KeyStore } from './key-store.js'

export class MessageSigning {
  private readonly inFlight = new Set<Promise<void>>()

  constructor(
    private readonly doc: Y.Doc,
    private readonly userId: string,
    private readonly keys: KeyStore,
    /** The transaction origin of this replica's own writes (the transport sends them). */
    private readonly origin: unknown,
  ) {}

  sign(message: SignableMessage): void {
    this.track((key) => signMessage(this.doc, this.userId, message, key, this.origin))
  }

  /** Sign this user's latest edit of a message (a later edit's call signs that one). */
  signEdit(messageId: string): void {
    this.track((key) => signEdit(this.doc, this.userId, messageId, key, this.origin))
  }

  private track(write: (key: SigningKey) => Promise<SignOutcome>): void {
    const signing = this.signWithCurrentKey(write)
      // Without Ed25519 (an old browser) it goes unsigned: recipients show it unverified.
      .catch(() => {})
      .finally(() => this.inFlight.delete(signing))
    this.inFlight.add(signing)
  }

  get busy(): boolean {
    return this.inFlight.size > 0
  }

  /** Resolves once every signature started so far is written (or given up): before closing. */
  async whenIdle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight)
  }

  private async signWithCurrentKey(write: (key: SigningKey) => Promise<SignOutcome>): Promise<void> {
    const key = await this.keys.current()
    const outcome = await write(key)
    // This device's key was revoked here (from another device): it makes itself a new one.
    if (outcome === 'key-revoked') {
      // Messages signed together find the same revoked key: the first to get here rotates it.
      const latest = await this.keys.current()
      const next = latest.keyId === key.keyId ? await this.keys.rotate() : latest
      await write(next)
    }
  }
}

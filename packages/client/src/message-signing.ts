/**
 * Signs what this replica sends, right after `send()` (which stays synchronous): the signature and,
 * the first time in a conversation, the device's public key follow the message as one small write.
 */
import { type SignableMessage, signMessage } from '@ticks/core'
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
    const signing = this.signWithCurrentKey(message)
      // Without Ed25519 (an old browser) the message goes unsigned: recipients show it unverified.
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

  private async signWithCurrentKey(message: SignableMessage): Promise<void> {
    const key = await this.keys.current()
    const outcome = await signMessage(this.doc, this.userId, message, key, this.origin)
    // This device's key was revoked here (from another device): it makes itself a new one.
    if (outcome === 'key-revoked') {
      // Messages signed together find the same revoked key: the first to get here rotates it.
      const latest = await this.keys.current()
      const next = latest.keyId === key.keyId ? await this.keys.rotate() : latest
      await signMessage(this.doc, this.userId, message, next, this.origin)
    }
  }
}

/**
 * Whether a message is its author's (DESIGN section 13), for what the app shows. Verification is
 * asynchronous (WebCrypto), so it is kept apart from `messages()`: the app asks for the messages it
 * renders, reads a cached answer synchronously, and is told when answers change. A result is
 * cached per message with everything it depends on (text, time, signature, key, revocation), so
 * re-renders cost a lookup and a change to any of them is verified again.
 */
import type * as Y from 'yjs'
import { SYSTEM_AUTHOR, USER_ROOT_PREFIX } from './schema.js'
import {
  EDIT_SIGNATURE_KEY_PREFIX,
  isEditSignatureRecord,
  isSignatureRecord,
  KEY_RECORD_PREFIX,
  SIGNATURE_KEY_PREFIX,
  type SignatureRecord,
} from './signature-records.js'
import { type SignedPayload, signedPayloadText, verifyPayload } from './signatures.js'
import { editSignatureEntryOf, publishedKey, signatureEntryOf } from './signed-entries.js'

/**
 * - `verified`: signed by a key its author publishes here and has not revoked (announcements: the
 *   server's own root, which no member can write, stands for the signature).
 * - `unverified`: no signature, a malformed or wrong one, or one by a revoked key. An edited
 *   message is answered from its latest edit's signature: one missing or naming an older edit is
 *   unverified too (after the same grace as a fresh message's).
 * - `unknown-key`: signed by a key its author does not publish here; never trusted.
 * - `checking`: not known yet, being verified, or a fresh message whose signature is still on its
 *   way (it is written right after the message): shown as nothing rather than flashing unverified.
 */
export type Verification = 'verified' | 'unverified' | 'unknown-key' | 'checking'

/** What verification reads of a message (a `Message` is one). */
export interface VerifiableMessage {
  id: string
  author: string
  text: string
  createdAt: number
  announcement?: true
  /** Edited (issue 17): `text` is the edit's, made at `at`. */
  edited?: { at: number }
}

export interface MessageVerifierOptions {
  /**
   * How long after its `createdAt` an unsigned message counts as `checking` rather than
   * `unverified` (its signature travels a moment behind it). Default 5 s.
   */
  signatureGraceMs?: number
  now?: () => number
  /**
   * The signature a sealed message's history record carries (DESIGN section 12): sealing moves
   * it out of the document. Without one, the document's `s|` entry is read (rooms sealed before
   * records carried signatures kept it there).
   */
  sealedSignatureOf?: (messageId: string) => SignatureRecord | undefined
}

interface Checked {
  /** Everything the answer depends on; a different one is a different question. */
  question: string
  answer: boolean | Promise<boolean>
}

const DEFAULT_GRACE_MS = 5000

export class MessageVerifier {
  private readonly checked = new Map<string, Checked>()
  private readonly listeners = new Set<() => void>()
  private readonly graceMs: number
  private readonly now: () => number
  private readonly sealedSignatureOf: (messageId: string) => SignatureRecord | undefined
  private readonly onTransaction: (transaction: Y.Transaction) => void
  private graceTimer: ReturnType<typeof setTimeout> | undefined
  private graceDeadline = Number.POSITIVE_INFINITY
  private emitQueued = false
  private destroyed = false

  constructor(
    private readonly doc: Y.Doc,
    options: MessageVerifierOptions = {},
  ) {
    this.graceMs = options.signatureGraceMs ?? DEFAULT_GRACE_MS
    this.now = options.now ?? Date.now
    this.sealedSignatureOf = options.sealedSignatureOf ?? (() => undefined)
    this.onTransaction = (transaction) => {
      if (touchesSignedEntries(transaction)) this.queueEmit()
    }
    doc.on('afterTransaction', this.onTransaction)
  }

  /**
   * The answer now, without waiting: a cached one, or `checking` while it is worked out (listeners
   * are then called once it is known).
   */
  verification(message: VerifiableMessage): Verification {
    const state = this.state(message)
    if (state.kind === 'final') return state.verification
    if (state.kind === 'grace') {
      this.wakeAt(signedAt(message) + this.graceMs)
      return 'checking'
    }
    const answer = this.answer(message.id, state.question, state.publicKey, state.sig, state.payload)
    if (typeof answer === 'boolean') return answer ? 'verified' : 'unverified'
    return 'checking'
  }

  /**
   * The answer once known: a fresh unsigned message waits for its signature until the grace ends
   * (then it is `unverified`).
   */
  async verify(message: VerifiableMessage): Promise<Exclude<Verification, 'checking'>> {
    for (;;) {
      const state = this.state(message, !this.destroyed)
      if (state.kind === 'final') return state.verification
      if (state.kind === 'crypto') {
        const answer = this.answer(message.id, state.question, state.publicKey, state.sig, state.payload)
        return (await answer) ? 'verified' : 'unverified'
      }
      await this.changeOrDeadline(signedAt(message) + this.graceMs)
    }
  }

  /** Called when answers may have changed: a signature or key arrived, a key was revoked, a check ended. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  destroy(): void {
    this.destroyed = true
    this.doc.off('afterTransaction', this.onTransaction)
    if (this.graceTimer !== undefined) clearTimeout(this.graceTimer)
    this.listeners.clear()
    this.checked.clear()
  }

  private state(
    message: VerifiableMessage,
    withGrace = true,
  ):
    | { kind: 'final'; verification: Exclude<Verification, 'checking'> }
    | { kind: 'grace' }
    | { kind: 'crypto'; question: string; publicKey: string; sig: string; payload: SignedPayload } {
    if (message.announcement || message.author === SYSTEM_AUTHOR)
      return { kind: 'final', verification: 'verified' }
    const edited = message.edited
    const entry = edited
      ? editSignatureEntryOf(this.doc, message.author, message.id)
      : (this.sealedSignatureOf(message.id) ?? signatureEntryOf(this.doc, message.author, message.id))
    // A signature still on its way, or (an edit) the previous edit's while the new one's is.
    const awaited = edited
      ? entry === undefined || (isEditSignatureRecord(entry) && entry.editedAt < edited.at)
      : entry === undefined
    if (awaited) {
      const age = this.now() - signedAt(message)
      if (withGrace && age >= -this.graceMs && age < this.graceMs) return { kind: 'grace' }
      return { kind: 'final', verification: 'unverified' }
    }
    if (edited ? !isEditSignatureRecord(entry) || entry.editedAt !== edited.at : !isSignatureRecord(entry))
      return { kind: 'final', verification: 'unverified' }
    const signature = entry as SignatureRecord
    const key = publishedKey(this.doc, message.author, signature.key)
    if (!key) return { kind: 'final', verification: 'unknown-key' }
    if (key.revokedAt !== undefined) return { kind: 'final', verification: 'unverified' }
    const common = { conversationId: this.doc.guid, messageId: message.id, author: message.author }
    const payload: SignedPayload = edited
      ? { kind: 'edit', ...common, text: message.text, editedAt: edited.at }
      : { kind: 'message', ...common, text: message.text, createdAt: message.createdAt }
    const question = `${key.publicKey} ${signature.sig} ${signedPayloadText(payload)}`
    return { kind: 'crypto', question, publicKey: key.publicKey, sig: signature.sig, payload }
  }

  private answer(
    messageId: string,
    question: string,
    publicKey: string,
    sig: string,
    payload: SignedPayload,
  ): boolean | Promise<boolean> {
    const cached = this.checked.get(messageId)
    if (cached?.question === question) return cached.answer
    const checked: Checked = { question, answer: verifyPayload(publicKey, sig, payload) }
    this.checked.set(messageId, checked)
    void (checked.answer as Promise<boolean>).then((valid) => {
      if (this.checked.get(messageId) !== checked) return
      checked.answer = valid
      this.queueEmit()
    })
    return checked.answer
  }

  /** Resolves on the next change, or at `deadline` (by this verifier's clock) at the latest. */
  private changeOrDeadline(deadline: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        stop()
        clearTimeout(timer)
        resolve()
      }
      const stop = this.onChange(done)
      const timer = setTimeout(done, Math.max(0, deadline - this.now()) + 1)
    })
  }

  /** One timer for the earliest fresh unsigned message shown: when it passes, answers change. */
  private wakeAt(deadline: number): void {
    if (this.destroyed || deadline >= this.graceDeadline) return
    if (this.graceTimer !== undefined) clearTimeout(this.graceTimer)
    this.graceDeadline = deadline
    this.graceTimer = setTimeout(
      () => {
        this.graceTimer = undefined
        this.graceDeadline = Number.POSITIVE_INFINITY
        this.queueEmit()
      },
      Math.max(0, deadline - this.now()) + 1,
    )
  }

  /** Several answers arriving together are one change. */
  private queueEmit(): void {
    if (this.emitQueued || this.destroyed) return
    this.emitQueued = true
    queueMicrotask(() => {
      this.emitQueued = false
      if (this.destroyed) return
      for (const listener of this.listeners) listener()
    })
  }
}

/** When what is shown was signed: its latest edit's time, or its own. */
const signedAt = (message: VerifiableMessage): number => message.edited?.at ?? message.createdAt

function touchesSignedEntries(transaction: Y.Transaction): boolean {
  for (const [type, keys] of transaction.changed) {
    if (type._item !== null) continue
    for (const key of keys) {
      if (
        key?.startsWith(SIGNATURE_KEY_PREFIX) ||
        key?.startsWith(EDIT_SIGNATURE_KEY_PREFIX) ||
        key?.startsWith(KEY_RECORD_PREFIX)
      ) {
        if (isUserRoot(transaction.doc, type)) return true
        break
      }
    }
  }
  return false
}

function isUserRoot(doc: Y.Doc, type: unknown): boolean {
  for (const [name, root] of doc.share) if (root === type) return name.startsWith(USER_ROOT_PREFIX)
  // A root another reader retyped after the change: re-reading is cheap, missing a change is not.
  return true
}

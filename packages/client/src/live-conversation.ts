import {
  Conversation,
  deleteSignature,
  type KeyRecord,
  type Message,
  MessageVerifier,
  publishedKeys,
  revokeKey,
  type SendOptions,
  type VerifiableMessage,
  type Verification,
} from '@ticks/core'
import { Awareness } from 'y-protocols/awareness'
import type * as Y from 'yjs'
import {
  Connection,
  type ConnectionOptions,
  type ConnectionState,
  type ConnectionStop,
  type ConversationLink,
  REFUSAL_CLOSE_CODES,
} from './connection.js'
import { createDeliveredBatcher } from './delivered-batcher.js'
import { fetchHistoryPage, httpBases } from './history-api.js'
import type { HistoryCache } from './history-cache.js'
import { HistoryPager } from './history-pager.js'
import type { KeyStore } from './key-store.js'
import { indexedDbStore, type LocalStore, memoryOnlyStore } from './local-store.js'
import { MessageSigning } from './message-signing.js'
import { type PresenceState, presenceByUser } from './presence.js'
import { SharedConnection } from './shared-connection.js'
import type { SharedSocket } from './shared-socket.js'

export interface LiveConversationSetup {
  doc: Y.Doc
  userId: string
  replicaId: string
  url: string | readonly string[]
  token: string
  WebSocket: typeof WebSocket
  persistence: 'indexeddb' | 'none'
  connection: ConnectionOptions
  /** The client's shared socket, when conversations share one (else each has its own). */
  sharedSocket?: SharedSocket | undefined
  /** Connect once local storage is loaded (false: stay offline until `reconnect()`). */
  autoConnect: boolean
  /** How long a burst of remote changes may last before one `markDelivered()` covers it. */
  deliveredDelayMs: number
  /** `setTyping(true)` expires after this long unless renewed, so a closed laptop stops "typing". */
  typingTimeoutMs: number
  /**
   * The teardown of an earlier instance of this conversation that is still closing: local storage
   * opens after it, so the load reads everything that instance wrote, its last receipt included.
   */
  after?: Promise<void>
  /** Called as soon as the last holder lets go (`teardown` settles when all is closed). */
  /** `unsent`: whether messages written here were still waiting for the server when it was let go. */
  onReleased: (teardown: Promise<void>, unsent: boolean) => void
  /** A message was written here: it waits for the server until stamped (the client notes that). */
  onSend?: () => void
  /** Where this conversation's sealed history is kept on this device. */
  historyCache: HistoryCache
  /** For the history pages (`GET /api/conversations/:id/history`). */
  fetch: typeof fetch
  /** This device's signing key (signed messages, DESIGN section 13). */
  keyStore: KeyStore
}

/** How much cached history a conversation shows as soon as it is loaded, before any paging. */
const RESTORED_HISTORY = 50

/** The name of a conversation's IndexedDB database: scoped by user, so accounts never mix. */
export const databaseName = (userId: string, conversationId: string): string =>
  `ticks:${userId}:${conversationId}`

/**
 * A core `Conversation` kept on this device and synced with the server: local storage first, then
 * the socket. Remote messages are marked delivered automatically (batched); `markRead` is left to
 * the app, which knows what is on screen.
 */
export class LiveConversation extends Conversation {
  readonly awareness: Awareness
  private readonly link: ConversationLink
  private readonly store: LocalStore
  private readonly delivered: ReturnType<typeof createDeliveredBatcher>
  private readonly typingTimeoutMs: number
  private readonly onReleased: (teardown: Promise<void>, unsent: boolean) => void
  private readonly onSend: (() => void) | undefined
  private readonly onRemoteTransaction: (transaction: Y.Transaction) => void
  private readonly history: HistoryPager
  private readonly signing: MessageSigning
  private readonly verifier: MessageVerifier
  private token: string
  private typingTimer: ReturnType<typeof setTimeout> | undefined
  private holders = 1
  private closing: Promise<void> | undefined

  constructor(setup: LiveConversationSetup) {
    super(setup.doc, { userId: setup.userId, replicaId: setup.replicaId, now: monotonicClock() })
    this.typingTimeoutMs = setup.typingTimeoutMs
    this.onReleased = setup.onReleased
    this.onSend = setup.onSend
    this.awareness = new Awareness(setup.doc)
    this.awareness.setLocalState({ user: setup.userId, typing: false })
    this.store =
      setup.persistence === 'indexeddb'
        ? indexedDbStore(databaseName(setup.userId, setup.doc.guid), setup.doc, { after: setup.after })
        : memoryOnlyStore()
    const onRefused = (stop: ConnectionStop) => this.failUnsent(stop.reason)
    this.link = setup.sharedSocket
      ? new SharedConnection({
          socket: setup.sharedSocket,
          conversationId: setup.doc.guid,
          doc: setup.doc,
          awareness: this.awareness,
          options: setup.connection,
          onRefused,
        })
      : new Connection({
          url: setup.url,
          conversationId: setup.doc.guid,
          userId: setup.userId,
          token: setup.token,
          doc: setup.doc,
          awareness: this.awareness,
          WebSocket: setup.WebSocket,
          options: setup.connection,
          onRefused,
        })
    this.token = setup.token
    const bases = httpBases(setup.url)
    this.history = new HistoryPager({
      conversation: this,
      cache: setup.historyCache,
      fetchPage: (before, limit) =>
        fetchHistoryPage({
          bases,
          token: this.token,
          conversationId: setup.doc.guid,
          before,
          limit,
          fetch: setup.fetch,
        }),
    })
    this.delivered = createDeliveredBatcher(() => this.markDelivered(), setup.deliveredDelayMs)
    this.signing = new MessageSigning(setup.doc, setup.userId, setup.keyStore, this)
    // A sealed message's signature left the document with it: its history record carries it.
    this.verifier = new MessageVerifier(setup.doc, {
      sealedSignatureOf: (messageId) => this.index.history.get(messageId)?.signature,
    })
    this.onRemoteTransaction = (transaction) => {
      if (!transaction.local && transaction.changed.size > 0) this.delivered.schedule()
    }
    this.doc.on('afterTransaction', this.onRemoteTransaction)
    // Connect after the local load: the first sync then exchanges only what differs.
    void this.store.whenLoaded.then(() => {
      if (this.closing) return
      this.delivered.schedule()
      if (setup.autoConnect) this.link.reconnect()
      // What was on screen below the window last time (held when sealed, or paged) shows again.
      void this.history.loadOlder(RESTORED_HISTORY, { network: false }).catch(() => {})
    })
  }

  /** `offline | connecting | syncing | synced`. */
  get connection(): ConnectionState {
    return this.link.state
  }

  /**
   * Why the connection gave up (4401/4403/4404, a refused write, or 1007: the server or another tab
   * sent an update this replica refused to store), until `reconnect()`.
   */
  get stopped(): ConnectionStop | undefined {
    return this.link.stopped
  }

  /** Called on every connection state change, and when `stopped` changes. */
  onConnection(listener: (state: ConnectionState) => void): () => void {
    return this.link.onChange(listener)
  }

  /** Resolves once this device's copy is loaded (IndexedDB), without waiting for the server. */
  whenLoaded(): Promise<void> {
    return this.store.whenLoaded
  }

  /**
   * Resolves once local storage is loaded and, if the server can be reached now, its state is
   * merged: true when merged with the server, false when offline (or stopped, or closed).
   */
  async whenSynced(): Promise<boolean> {
    await this.store.whenLoaded
    return new Promise<boolean>((resolve) => {
      const settle = (): boolean => {
        const state = this.link.state
        if (state === 'synced') resolve(true)
        else if (state === 'offline') resolve(false)
        else return false
        return true
      }
      if (settle()) return
      const unsubscribe = this.link.onChange(() => {
        if (settle()) unsubscribe()
      })
    })
  }

  /** Try now: skips the back-off and clears a stop (after a new token, or a "retry" button). */
  reconnect(): void {
    if (!this.closing) this.link.reconnect()
  }

  /** Stay offline until `reconnect()`. */
  disconnect(): void {
    this.link.disconnect()
  }

  /** For the next connection attempt (e.g. after a 4401, with a fresh token, then `reconnect()`). */
  setToken(token: string): void {
    this.token = token
    this.link.setToken(token)
  }

  /**
   * Show up to `limit` (at most 200) older messages of the sealed history (DESIGN section 12): the
   * page right below the oldest one shown, from this device's cache when it holds it, else from the
   * server (`GET /api/conversations/:id/history`), whose pages are then cached. Resolves how many
   * messages were added: 0 at the beginning of history, and 0 when the page is neither cached nor
   * reachable (offline; `hasOlder()` then stays true). Rejects with a `HistoryRequestError` when the
   * server answers with a refusal (401, 403, 404). A call made while one runs pages on after it.
   */
  async loadOlder(limit = 50): Promise<number> {
    await this.store.whenLoaded
    if (this.closing) return 0
    return this.history.loadOlder(limit)
  }

  /** Whether older messages remain to be shown (false once seq 1 is shown, or nothing is left below). */
  hasOlder(): boolean {
    return this.history.hasOlder()
  }

  /** Whether every local write (messages, receipts) is committed to this device's disk. */
  outboxOnDisk(): boolean {
    return this.store.onDisk()
  }

  /**
   * Resolves true once every write made so far is on disk; false without persistence, or when the
   * conversation was closed before they all reached it. Closing settles it: never left pending.
   */
  whenPersisted(): Promise<boolean> {
    return this.store.whenPersisted()
  }

  /** Called when `outboxOnDisk()` may have changed. */
  onPersistence(listener: () => void): () => void {
    return this.store.onDiskChange(listener)
  }

  /** Whether the document was loaded from this device's storage (y-indexeddb cannot tell). */
  loadedFromDisk(): boolean {
    return this.store.loadedFromDisk()
  }

  /** Send a failed message again: it goes back to `pending` and the connection tries now. */
  retry(messageId: string): void {
    this.clearFailure(messageId)
    this.reconnect()
  }

  /**
   * Drop a message the server never stamped; if it was what the server refused, sync resumes.
   * A 4403 that failed messages counts too: a member demoted to observer while offline has nothing
   * left to write once they are discarded, and reconnects to read (a non-member is refused again).
   */
  override send(text: string, options?: SendOptions): Message {
    const message = super.send(text, options)
    this.signing.sign(message)
    // Noted at once, not only when let go: a tab closed with the chat open still has it sent later.
    this.onSend?.()
    return message
  }

  /** Edit one's own message, signed right after (recipients verify the latest edit's signature). */
  override edit(messageId: string, text: string): Message {
    const message = super.edit(messageId, text)
    this.signing.signEdit(messageId)
    return message
  }

  /**
   * Whether a message is its author's (signed messages): `verified`, `unverified`, `unknown-key`,
   * or `checking` while that is worked out (a fresh message's signature may still be on its way).
   * Synchronous and cached: ask for the messages on screen; `onVerification` says when to ask again.
   */
  verification(message: VerifiableMessage): Verification {
    return this.verifier.verification(message)
  }

  /** The verification once known (a fresh message's signature is waited for, a few seconds at most). */
  verify(message: VerifiableMessage): Promise<Exclude<Verification, 'checking'>> {
    return this.verifier.verify(message)
  }

  /** Called when verifications may have changed (a signature or key arrived, a key was revoked). */
  onVerification(listener: () => void): () => void {
    return this.verifier.onChange(listener)
  }

  /** The signing keys `userId` (default: this user) published in this conversation, by key id. */
  publishedKeys(userId: string = this.userId): Record<string, KeyRecord> {
    return publishedKeys(this.doc, userId)
  }

  /**
   * Revoke one of this user's keys here, e.g. a lost device's from the new one: every message it
   * signed shows unverified from now on, for good. False when it is not published here or already
   * revoked. Keys are published per conversation: revoke it in each (`client.revokeKey`).
   */
  revokeKey(keyId: string): boolean {
    return revokeKey(this.doc, this.userId, keyId, Date.now(), this)
  }

  override discard(messageId: string): void {
    const failedBefore = this.messages().some((m) => m.status === 'failed')
    // Its signature goes with it, in the same write: nothing of it is left to send.
    this.doc.transact(() => {
      super.discard(messageId)
      deleteSignature(this.doc, this.userId, messageId, this)
    }, this)
    const stop = this.link.stopped
    // Not after a 1007: that stop refused what the server sent, which no discard here changes.
    const refused = stop && REFUSAL_CLOSE_CODES.has(stop.code)
    if (refused && failedBefore && !this.messages().some((m) => m.status === 'failed')) this.reconnect()
  }

  /** Whether messages written on this replica still wait for the server (pending, not failed). */
  hasUnsent(): boolean {
    return this.messages().some(
      (message) =>
        message.author === this.userId && message.seq === undefined && message.status === 'pending',
    )
  }

  presence(): Record<string, PresenceState> {
    return presenceByUser(this.awareness)
  }

  onPresence(listener: () => void): () => void {
    this.awareness.on('change', listener)
    return () => this.awareness.off('change', listener)
  }

  setTyping(typing: boolean): void {
    if (this.typingTimer !== undefined) clearTimeout(this.typingTimer)
    this.typingTimer = undefined
    if (this.closing) return
    this.awareness.setLocalStateField('typing', typing)
    if (typing) this.typingTimer = setTimeout(() => this.setTyping(false), this.typingTimeoutMs)
  }

  /**
   * Release this handle. `client.open()` of an open conversation returns the same instance, so
   * the socket and the database close when the last holder closes. From then on `open()` makes a
   * new instance, even while this one is still closing (a component remounted in the same tick).
   */
  close(): Promise<void> {
    if (this.holders > 1) {
      this.holders--
      return Promise.resolve()
    }
    this.holders = 0
    if (!this.closing) {
      const unsent = this.hasUnsent()
      this.closing = this.teardown()
      this.onReleased(this.closing, unsent)
    }
    return this.closing
  }

  /** @internal used by the client when `open()` hands out this instance again. */
  retain(): this {
    this.holders++
    return this
  }

  /**
   * @internal the browser's `online` event: if waiting out a back-off, try now. Unlike
   * `reconnect()` it never starts a connection the app disconnected or has not connected yet
   * (`connect: false`, storage still loading), and never clears a stop.
   */
  skipBackoff(): void {
    if (!this.closing) this.link.skipBackoff()
  }

  private async teardown(): Promise<void> {
    // A signature being made is written first, so it is stored and sent with the rest.
    if (this.signing.busy) await this.signing.whenIdle()
    this.verifier.destroy()
    // A pending receipt is worth keeping: write it before the socket and the store go away.
    this.delivered.cancel()
    this.markDelivered()
    if (this.typingTimer !== undefined) clearTimeout(this.typingTimer)
    this.doc.off('afterTransaction', this.onRemoteTransaction)
    this.history.close()
    this.link.close()
    this.awareness.destroy()
    this.destroy()
    await this.store.destroy()
    this.doc.destroy()
  }
}

/**
 * `Date.now()`, but strictly increasing. The server stamps a burst of unsequenced messages by
 * `createdAt`, then by (random) id, so two messages sent in the same millisecond could be shown in
 * the opposite order to the one they were typed in; distinct timestamps keep the author's order.
 */
function monotonicClock(): () => number {
  let last = 0
  return () => {
    const now = Date.now()
    last = now > last ? now : last + 1
    return last
  }
}

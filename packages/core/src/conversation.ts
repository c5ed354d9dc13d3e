import * as random from 'lib0/random'
import type * as Y from 'yjs'
import {
  type ActionContext,
  addReaction,
  checkText,
  deleteForEveryone,
  editMessage,
  mentionsIn,
  removeReaction,
  replyReference,
} from './actions.js'
import { ConversationIndex } from './conversation-index.js'
import { TicksError } from './errors.js'
import { randomId } from './ids.js'
import { type Message, MessageList } from './message-list.js'
import { raiseWatermark } from './receipts.js'
import {
  DEFAULT_LIMITS,
  editKey,
  isValidId,
  type Limits,
  META_ROOT,
  type MessageRecord,
  memberKey,
  messageKey,
  type Role,
  recipientsOf,
  TITLE_KEY,
  userRoot,
} from './schema.js'
import { editSignatureKey } from './signature-records.js'
import { recipientStatus, type Status } from './status.js'

export type { Message }

export interface Member {
  role: Role
  joinedAt: number
}

/** A sealed message as the server's history serves it. */
export interface HistoryMessage {
  id: string
  author: string
  text: string
  createdAt: number
  to: string[]
  seq: number
  /** The message answered (issue 17). */
  replyTo?: { id: string; author: string }
  mentions?: string[]
  /** Deleted for everyone: the history keeps no text (`text` is ''). */
  deleted?: true
  /**
   * Its signature (issue 16), sealed with it; absent in records sealed before records carried
   * one, and for unsigned messages.
   */
  signature?: { key: string; sig: string }
}

/** Options of `send` (issue 17). */
export interface SendOptions {
  /** The id of the message this one answers (shown, not deleted). */
  replyTo?: string
}

export interface ConversationOptions {
  userId: string
  /**
   * Identifies this device's receipt key. Give a stable id per device (the client persists one);
   * defaults to the document's client id.
   */
  replicaId?: string
  limits?: Partial<Limits>
  /** Clock for `createdAt`; injectable for deterministic tests. */
  now?: () => number
  /**
   * Ids for new messages; injectable so a seeded simulation replays the same ids. Must return
   * ids valid per `isValidId` and unique across the conversation. Default: `randomId()`.
   */
  newId?: () => string
  /** The Yjs client id this replica's receipts are written with; injectable for seeded tests. */
  receiptClientId?: number
}

/**
 * A conversation on one Y.Doc (`doc.guid` is the conversation id). Pure model: no sockets, no
 * storage, no DOM. Status is a max-register per message, derived from the server's order log and
 * per-replica receipt watermarks, so replicas converge without any ACK bookkeeping.
 */
export class Conversation {
  readonly doc: Y.Doc
  readonly userId: string
  readonly replicaId: string
  readonly limits: Limits
  protected readonly index: ConversationIndex
  private readonly now: () => number
  private readonly newId: () => string
  private readonly failures = new Map<string, string>()
  private readonly listeners = new Set<() => void>()
  private readonly list: MessageList
  private failureVersion = 0
  private destroyed = false
  private lastCreatedAt = 0
  private readonly unsubscribe: () => void
  /** The Yjs client id receipts are written with (see `withClientId`): one per session, like Yjs's own. */
  private readonly receiptClient: number
  /** When this replica's recent edits were made, for `maxEditsPerMinute`. */
  private readonly recentEdits: number[] = []
  /** How much of the index's action journal was checked for own edits left after a deletion. */
  private actionsChecked = 0

  constructor(doc: Y.Doc, options: ConversationOptions) {
    if (!options.userId) throw new TicksError('invalid-argument', 'userId is required')
    this.doc = doc
    this.userId = options.userId
    this.replicaId = options.replicaId ?? String(doc.clientID)
    this.limits = { ...DEFAULT_LIMITS, ...options.limits }
    this.now = options.now ?? Date.now
    this.newId = options.newId ?? randomId
    this.receiptClient = options.receiptClientId ?? otherClientId(doc.clientID)
    this.index = new ConversationIndex(doc)
    this.list = new MessageList(this.index, {
      has: (id) => this.failures.has(id),
      version: () => this.failureVersion,
    })
    this.unsubscribe = this.index.onChange(() => {
      this.dropEditsOfDeleted()
      this.emit()
    })
    // A document loaded before this model (a reload) may hold such an edit already.
    this.dropEditsOfDeleted()
  }

  get id(): string {
    return this.doc.guid
  }

  /**
   * Write a message. It is `pending` until the server stamps it after persisting it. `replyTo`
   * names the message it answers; members named `@<userId>` in the text are recorded as mentions.
   */
  send(text: string, options: SendOptions = {}): Message {
    checkText(text, this.limits)
    this.assertCanWrite()
    const replyTo = options.replyTo === undefined ? undefined : replyReference(this.index, options.replyTo)
    const mentions = mentionsIn(text, this.index.members, this.limits.maxMentions)
    const record: MessageRecord = {
      id: this.nextMessageId(),
      text,
      createdAt: this.nextCreatedAt(),
      to: recipientsOf(this.index.members, this.userId),
    }
    if (replyTo) record.replyTo = replyTo
    if (mentions.length > 0) record.mentions = mentions
    this.doc.transact(() => {
      this.doc.getMap(userRoot(this.userId)).set(messageKey(record.id), record)
    }, this)
    // Built here rather than read back: inside an outer transaction the index has not seen it yet.
    const message: Message = {
      id: record.id,
      author: this.userId,
      text,
      createdAt: record.createdAt,
      status: 'pending',
      to: record.to,
    }
    if (replyTo) message.replyTo = this.list.get(record.id)?.replyTo ?? replyTo
    if (record.mentions) message.mentions = record.mentions
    return message
  }

  /** React to a message with an emoji (at most `maxReactionsPerMessage` each). False: already did. */
  react(messageId: string, emoji: string): boolean {
    this.assertCanWrite()
    return addReaction(this.actionContext(), messageId, emoji)
  }

  /** Take one's reaction back. False: there was none. */
  unreact(messageId: string, emoji: string): boolean {
    this.assertCanWrite()
    return removeReaction(this.actionContext(), messageId, emoji)
  }

  /**
   * Change the text of one's own message (any number of times; the latest wins, on every
   * replica). Seq, order and status stay: a read message stays read.
   */
  edit(messageId: string, text: string): Message {
    checkText(text, this.limits)
    this.assertCanWrite()
    const now = this.now()
    while (this.recentEdits.length > 0 && this.recentEdits[0]! <= now - 60_000) this.recentEdits.shift()
    if (this.recentEdits.length >= this.limits.maxEditsPerMinute) {
      throw new TicksError('rate-limited', `At most ${this.limits.maxEditsPerMinute} edits per minute`)
    }
    editMessage(this.actionContext(), messageId, text)
    this.recentEdits.push(now)
    return this.message(messageId)
  }

  /**
   * Delete one's own message for everyone: it stays in its place as a tombstone (`deleted`, no
   * text) with its seq and status, and its text leaves the document. Owners cannot delete
   * others' messages (authorship is the root an entry is in; see the README).
   */
  deleteForEveryone(messageId: string): void {
    this.assertCanWrite()
    deleteForEveryone(this.actionContext(), messageId)
    this.clearFailure(messageId)
  }

  /** Every message, in display order (DESIGN section 4). */
  messages(): Message[] {
    return this.list.current()
  }

  message(messageId: string): Message {
    const message = this.list.get(messageId)
    if (!message) throw new TicksError('unknown-message', `No message ${messageId} in this conversation`)
    return message
  }

  status(messageId: string): Status {
    return this.message(messageId).status
  }

  /** Each recipient's status for a message: "read by 3 of 5". */
  receipts(messageId: string): Record<string, Status> {
    const message = this.message(messageId)
    const seq = message.seq
    const receipts: Record<string, Status> = {}
    for (const user of message.to) receipts[user] = recipientStatus(seq, this.index.watermarkOf(user))
    return receipts
  }

  /** Record that this replica has integrated every message it holds. Returns false if nothing changed. */
  markDelivered(): boolean {
    if (!this.canWriteReceipts()) return false
    const d = this.index.integratedPrefix()
    return raiseWatermark(this.index, this.userId, this.replicaId, { d, r: 0 }, this, this.receiptClient)
  }

  /**
   * Record that the user was shown every message up to `upToMessageId` (default: the latest). A
   * pending message sits below every sequenced one, so reading it covers all that are sequenced.
   */
  markRead(upToMessageId?: string): boolean {
    let upTo = this.index.integratedPrefix()
    if (upToMessageId !== undefined) {
      const seq = this.message(upToMessageId).seq
      if (seq !== undefined) upTo = Math.min(upTo, seq)
    }
    if (!this.canWriteReceipts()) return false
    return raiseWatermark(
      this.index,
      this.userId,
      this.replicaId,
      { d: upTo, r: upTo },
      this,
      this.receiptClient,
    )
  }

  /**
   * Every seq at or below this was sealed into the server's history (DESIGN section 12): such
   * messages show here only once paged in with `addHistory` (or if this replica held them when
   * they were sealed).
   */
  sealedThrough(): number {
    return this.index.sealedThrough
  }

  /** The lowest seq this replica shows, or undefined when it shows no sequenced message. */
  oldestSeq(): number | undefined {
    return this.messages().find((message) => message.seq !== undefined)?.seq
  }

  /**
   * Show sealed messages from the server's history (`GET …/history`), in place and with their
   * live statuses. Only sealed seqs are taken; malformed records are ignored.
   */
  addHistory(messages: readonly HistoryMessage[]): void {
    this.index.addHistory(
      messages.map(({ id, author, text, createdAt, to, seq, replyTo, mentions, deleted, signature }) => {
        const record: MessageRecord = { id, text, createdAt, to }
        if (replyTo) record.replyTo = replyTo
        if (mentions) record.mentions = mentions
        if (deleted) return { record, author, seq, deleted }
        return signature ? { record, author, seq, signature } : { record, author, seq }
      }),
    )
  }

  members(): Record<string, Member> {
    return Object.fromEntries(this.index.members)
  }

  role(userId: string = this.userId): Role | undefined {
    return this.index.members.get(userId)?.role
  }

  title(): string {
    return this.index.title
  }

  /** Owners only: add or change a member. */
  setMember(userId: string, role: Role): void {
    this.assertOwner()
    const existing = this.index.members.get(userId)
    this.doc.transact(() => {
      this.doc.getMap(META_ROOT).set(memberKey(userId), { role, joinedAt: existing?.joinedAt ?? this.now() })
    }, this)
  }

  setTitle(title: string): void {
    this.assertOwner()
    if (title.length > this.limits.maxTitleLength) {
      throw new TicksError(
        'invalid-argument',
        `A title may hold at most ${this.limits.maxTitleLength} characters`,
      )
    }
    this.doc.transact(() => this.doc.getMap(META_ROOT).set(TITLE_KEY, title), this)
  }

  /** Local only: the server refused this message. Shown as `failed` until retried or discarded. */
  markFailed(messageId: string, reason: string): void {
    this.message(messageId)
    this.failures.set(messageId, reason)
    this.failureVersion++
    this.emit()
  }

  /** Local only: the server refused what this replica wrote, so each unsent own message fails. */
  failUnsent(reason: string): void {
    for (const message of this.messages()) {
      if (message.author === this.userId && message.seq === undefined && message.status !== 'failed') {
        this.markFailed(message.id, reason)
      }
    }
  }

  failureReason(messageId: string): string | undefined {
    return this.failures.get(messageId)
  }

  clearFailure(messageId: string): void {
    if (this.failures.delete(messageId)) {
      this.failureVersion++
      this.emit()
    }
  }

  /** Delete one of this user's own messages that the server has not stamped (a failed send). */
  discard(messageId: string): void {
    const message = this.message(messageId)
    if (message.author !== this.userId)
      throw new TicksError('not-owner', 'Only the author may discard a message')
    if (message.seq !== undefined)
      throw new TicksError('invalid-argument', 'A sent message cannot be discarded')
    this.doc.transact(() => this.doc.getMap(userRoot(this.userId)).delete(messageKey(messageId)), this)
    this.clearFailure(messageId)
  }

  /** Called after every change that may alter what `messages()` returns. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  destroy(): void {
    this.destroyed = true
    this.unsubscribe()
    this.index.destroy()
    this.listeners.clear()
  }

  /** The index this model reads, for hosts (server, testkit) that stamp or inspect it. */
  get conversationIndex(): ConversationIndex {
    return this.index
  }

  private emit(): void {
    for (const listener of this.listeners) listener()
  }

  private actionContext(): ActionContext {
    return { index: this.index, userId: this.userId, limits: this.limits, now: this.now, origin: this }
  }

  /**
   * Another device of this user deleted a message for everyone while this one still held an edit
   * of it, or the message itself unsent: their text leaves the document too (the server takes
   * them, so that this device is not refused, but never shows them).
   */
  private dropEditsOfDeleted(): void {
    const journal = this.index.actionChangedIds
    if (this.actionsChecked === journal.length || this.destroyed) return
    const from = this.actionsChecked
    this.actionsChecked = journal.length
    const root = userRoot(this.userId)
    if (!this.doc.share.has(root)) return
    const map = this.doc.getMap(root)
    const orphans = new Set<string>()
    for (let i = from; i < journal.length; i++) {
      const id = journal[i]!
      if (!this.index.isDeleted(this.userId, id)) continue
      // Its unsent message entry too: sent from here after another device deleted it.
      if (map.has(editKey(id)) || map.has(editSignatureKey(id)) || map.has(messageKey(id))) orphans.add(id)
    }
    if (orphans.size === 0 || !this.canWriteReceipts()) return
    this.doc.transact(() => {
      for (const id of orphans) {
        // Its signature (issue 16) goes with it: it signs a text that is gone.
        for (const key of [editKey(id), editSignatureKey(id), messageKey(id)])
          if (map.has(key)) map.delete(key)
      }
    }, this)
  }

  /** A bad injected generator must fail here: a reused id would overwrite this user's own message. */
  private nextMessageId(): string {
    const id = this.newId()
    if (typeof id !== 'string' || !isValidId(id, this.limits)) {
      throw new TicksError(
        'invalid-argument',
        `newId() returned an invalid message id: ${JSON.stringify(id)}`,
      )
    }
    if (this.index.messages.has(id) || this.index.discarded.has(id)) {
      throw new TicksError('invalid-argument', `newId() returned an id already in use: ${id}`)
    }
    return id
  }

  /**
   * Strictly increasing per replica, so messages typed within one millisecond keep their order
   * (unsequenced messages are ordered, and stamped, by createdAt).
   */
  private nextCreatedAt(): number {
    this.lastCreatedAt = Math.max(this.now(), this.lastCreatedAt + 1)
    return this.lastCreatedAt
  }

  /** After destroy() nothing would ever store or send a write: refuse it rather than lose it. */
  private assertOpen(): void {
    if (this.destroyed) throw new TicksError('closed', 'This conversation was closed: open it again')
  }

  private assertCanWrite(): void {
    this.assertOpen()
    // Without the member list a message would name no recipients and never tick past `sent`.
    if (this.index.members.size === 0) {
      throw new TicksError('not-synced', 'The conversation has not loaded its members yet')
    }
    const role = this.role()
    if (role === undefined)
      throw new TicksError('not-a-member', `${this.userId} is not a member of ${this.id}`)
    if (role === 'observer') throw new TicksError('read-only', `${this.userId} is an observer of ${this.id}`)
  }

  private canWriteReceipts(): boolean {
    if (this.destroyed) return false
    const role = this.role()
    return role === 'owner' || role === 'member'
  }

  private assertOwner(): void {
    this.assertOpen()
    if (this.role() !== 'owner')
      throw new TicksError('not-owner', 'Only an owner may change the conversation')
  }
}

/** A random Yjs client id (as Yjs draws them: 32 bits) other than `taken`. */
function otherClientId(taken: number): number {
  let client = random.uint32()
  while (client === taken) client = random.uint32()
  return client
}

import type * as Y from 'yjs'
import { MessageActions } from './message-actions.js'
import { orderLogPrefix, readOrderLogShape } from './order-log.js'
import type { EditRecord } from './schema.js'
import {
  DELETION_KEY_PREFIX,
  type DeletionRecord,
  deletionKey,
  deletionRecordProblem,
  EDIT_KEY_PREFIX,
  editRecordProblem,
  holdsMessages,
  isMemberRecord,
  isWatermark,
  MEMBER_KEY_PREFIX,
  MESSAGE_KEY_PREFIX,
  META_ROOT,
  type MemberRecord,
  type MessageRecord,
  messageRecordProblem,
  parseReactionKey,
  REACTION_KEY_PREFIX,
  RECEIPT_KEY_PREFIX,
  rootOfAuthor,
  SERVER_ROOT,
  SYSTEM_AUTHOR,
  SYSTEM_ROOT,
  TITLE_KEY,
  USER_ROOT_PREFIX,
  type Watermark,
} from './schema.js'
import { isSignatureRecord, type SignatureRecord } from './signature-records.js'
import { signatureOfSealed } from './signed-entries.js'
import { joinWatermarks, NO_WATERMARK } from './status.js'

export interface IndexedMessage {
  record: MessageRecord
  author: string
  /** Its 1-based position in the order log; undefined until stamped. */
  seq: number | undefined
  /**
   * Deleted for everyone (issue 17): a tombstone whose record holds no text, only what keeps its
   * place and status (createdAt, to) and what it answered.
   */
  deleted?: true
}

/** A message sealed into the store's history: it left the live document, its seq stays. */
export interface SealedMessage extends IndexedMessage {
  seq: number
  /** Its `s|` signature (issue 16), which left the live document with it. */
  signature?: SignatureRecord
}

/**
 * An incremental index over a conversation document: messages by id, the order log, receipt
 * watermarks and members. Rebuilding this from scratch on every change costs ~600 ms at 100k
 * messages (DESIGN section 3), so it follows transactions and touches only the keys they changed.
 *
 * Entries that do not match the schema are ignored rather than trusted: the server refuses them,
 * but a replica may still meet them (an old server, a peer-to-peer test network).
 */
export class ConversationIndex {
  readonly doc: Y.Doc
  /*
   * The Maps and Sets below (but `listeners`) are made on first write, or on a reader's first look
   * at a public one (a reader may keep what it got), null until then: an empty one still holds a
   * ~180 B hash table, and a server keeps an index per open room, most of whose collections stay
   * empty (the idle bench: 0.7 KiB per socket at 4 sockets a room, message actions' included).
   */
  private messagesById: Map<string, IndexedMessage> | null = null
  private unsequencedSet: Set<string> | null = null
  private discardedSet: Set<string> | null = null
  /**
   * Every seq at or below this is sealed (DESIGN section 12): its message left the live document
   * for the store's history pages. Only ever rises.
   */
  sealedThrough = 0
  /** The live order log: `order[i]` has seq `sealedThrough + i + 1`. */
  readonly order: string[] = []
  /**
   * Stamps of messages not held here (not arrived yet, or discarded). A held message carries its
   * own seq, so the join of log and messages needs one 100,000-entry map, not two (~35 ms each).
   */
  private stampsWithoutMessage: Map<string, number> | null = null
  /**
   * The live order log's messages by position (`sequenced[i]` has seq `sealedThrough + i + 1`); a
   * hole where the stamp's message has not arrived yet or the entry repeats an earlier one. Readers
   * walk this instead of looking every id up: at 100,000 messages, each hash lookup saved is ~5 ms.
   */
  readonly sequenced: (IndexedMessage | undefined)[] = []
  private sealedById: Map<string, SealedMessage> | null = null
  /** Bumped whenever `history` changes. */
  historyVersion = 0
  private membersById: Map<string, MemberRecord> | null = null
  /** Bumped whenever a member is added, changed or removed. */
  membersVersion = 0
  title = ''
  /** Bumped on every change that can alter what an observer sees. */
  version = 0
  /**
   * Bumped when a change is more than additions and raises — a message deleted or rewritten, the
   * order log rebuilt — so incremental readers (the message list) know to start over.
   */
  structureVersion = 0
  /** Every message id in the order it first appeared here: readers keep their own position in it. */
  readonly addedIds: string[] = []
  /** Edits, deletions and reactions (issue 17). */
  readonly actions = new MessageActions()
  /**
   * Ids of messages an action changed (or whose replied-to message changed), in order: readers
   * keep their own position and refresh only those. `actionStamp` says when each last changed.
   */
  readonly actionChangedIds: string[] = []
  private actionStamps: Map<string, number> | null = null
  /** Replies by the id they answer, so a change of the original refreshes its quotes. */
  private replies: Map<string, Set<string>> | null = null

  private replicaWatermarks: Map<string, Map<string, Watermark>> | null = null
  private userWatermarks: Map<string, Watermark> | null = null
  private integratedUpTo = 0
  /** Messages whose entry a transaction deleted, until it ends: a seal, or a discard. */
  private removedInTransaction: Map<string, IndexedMessage> | null = null
  private readonly listeners = new Set<() => void>()
  private readonly onAfterTransaction = (tr: Y.Transaction) => this.apply(tr)

  /**
   * `keepHistory: false`: sealed messages are not kept in `history` (a server's room: its store
   * holds them, and keeping each in memory would make a long-lived room O(history) again).
   */
  constructor(
    doc: Y.Doc,
    private readonly options: { keepHistory?: boolean } = {},
  ) {
    this.doc = doc
    this.rebuild()
    doc.on('afterTransaction', this.onAfterTransaction)
  }

  /** The messages the live document holds, by id. */
  get messages(): ReadonlyMap<string, IndexedMessage> {
    this.messagesById ??= new Map()
    return this.messagesById
  }

  /** Messages present here that the order log does not hold yet. */
  get unsequencedIds(): ReadonlySet<string> {
    this.unsequencedSet ??= new Set()
    return this.unsequencedSet
  }

  /** Messages whose entry was deleted (discarded); they still count as integrated. */
  get discarded(): ReadonlySet<string> {
    this.discardedSet ??= new Set()
    return this.discardedSet
  }

  /**
   * Sealed messages this replica knows: those it held when they were sealed, and pages of history
   * a host added (`addHistory`). Not in `messages`, which is what the live document holds.
   */
  get history(): ReadonlyMap<string, SealedMessage> {
    this.sealedById ??= new Map()
    return this.sealedById
  }

  /** The conversation's members by user id, as the meta root lists them. */
  get members(): ReadonlyMap<string, MemberRecord> {
    this.membersById ??= new Map()
    return this.membersById
  }

  destroy(): void {
    this.doc.off('afterTransaction', this.onAfterTransaction)
    this.listeners.clear()
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** The merged watermark of a user: max over all of the user's replicas. */
  watermarkOf(userId: string): Watermark {
    return this.userWatermarks?.get(userId) ?? NO_WATERMARK
  }

  /** Every user's merged watermark (users with no receipt yet are absent). */
  watermarks(): ReadonlyMap<string, Watermark> {
    this.userWatermarks ??= new Map()
    return this.userWatermarks
  }

  /** The user's per-replica watermarks (key: replica id). */
  replicaWatermarksOf(userId: string): ReadonlyMap<string, Watermark> {
    return this.replicaWatermarks?.get(userId) ?? new Map()
  }

  /** When an action last changed what a message shows (0: never), for readers that cache it. */
  actionStamp(messageId: string): number {
    return this.actionStamps?.get(messageId) ?? 0
  }

  /** The live or sealed message with this id that this replica holds. */
  find(messageId: string): IndexedMessage | undefined {
    return this.messagesById?.get(messageId) ?? this.sealedById?.get(messageId)
  }

  /** Whether a deletion marker for the message exists (its author's root, or the index). */
  isDeleted(author: string, messageId: string): boolean {
    return this.actions.deletionOf(author, messageId) !== undefined
  }

  /**
   * The largest S such that every message with seq <= S has been integrated here. A watermark
   * may claim no more than this: "delivered" means a replica really holds the message.
   */
  integratedPrefix(): number {
    // Sealed messages count as integrated: they are in the history pages every member can read.
    this.integratedUpTo = Math.max(this.integratedUpTo, this.sealedThrough)
    while (this.integratedUpTo < this.lastSeq()) {
      const position = this.integratedUpTo - this.sealedThrough
      const present = this.sequenced[position] !== undefined
      const id = this.order[position]!
      if (!present && id !== '' && !this.messagesById?.has(id) && !this.discardedSet?.has(id)) {
        if (!this.deletedBeforeLoad(id)) break // not here yet
        this.discardedSet ??= new Set()
        this.discardedSet.add(id)
      }
      this.integratedUpTo++
    }
    return this.integratedUpTo
  }

  /**
   * Whether some author's root holds the message only as a deleted entry: stamped, then deleted
   * (a discard that crossed its stamp) before this replica loaded the document, so no deletion
   * was ever observed here. Without this, a fresh replica would wait for it forever and never
   * raise a receipt past its seq.
   */
  private deletedBeforeLoad(id: string): boolean {
    const key = MESSAGE_KEY_PREFIX + id
    for (const [name, type] of this.doc.share) {
      if (holdsMessages(name) && type._map.get(key)?.deleted) return true
    }
    return false
  }

  /** The highest seq this replica knows of (sealed entries included). */
  lastSeq(): number {
    return this.sealedThrough + this.order.length
  }

  /** The live message stamped `seq`, if this replica holds it. */
  sequencedAt(seq: number): IndexedMessage | undefined {
    return this.sequenced[seq - this.sealedThrough - 1]
  }

  /**
   * Add sealed messages fetched from the store's history. Only seqs that are sealed here are
   * taken (a page can never rewrite the live window), and a known one is kept as it is.
   */
  addHistory(messages: readonly SealedMessage[]): void {
    let added = false
    for (const message of messages) {
      if (!Number.isSafeInteger(message.seq) || message.seq < 1 || message.seq > this.sealedThrough) continue
      if (this.sealedById?.has(message.record.id) || typeof message.author !== 'string') continue
      const { record } = message
      const problem = message.deleted
        ? deletionRecordProblem({ deletedAt: 0, createdAt: record.createdAt, to: record.to })
        : messageRecordProblem(record, record.id)
      if (problem !== undefined || typeof record.id !== 'string') continue
      const deletion = this.actions.deletionOf(message.author, record.id)
      if (message.deleted || deletion) {
        this.keepSealed(tombstoneOf(record, message.author, deletion ?? record), message.seq)
      } else {
        const { signature } = message
        this.keepSealed(message, message.seq, isSignatureRecord(signature) ? signature : undefined)
      }
      added = true
    }
    if (!added) return
    this.version++
    for (const listener of this.listeners) listener()
  }

  /** Ids of messages present here that the order log does not hold yet. */
  unsequenced(): string[] {
    return [...(this.unsequencedSet ?? [])]
  }

  /** The message's 1-based position in the order log, or undefined when not stamped. */
  seqOf(messageId: string): number | undefined {
    return (
      this.messagesById?.get(messageId)?.seq ??
      this.stampsWithoutMessage?.get(messageId) ??
      this.sealedById?.get(messageId)?.seq
    )
  }

  private rebuilding = false

  private knowsNothing(): boolean {
    return (
      sizeOf(this.messagesById) === 0 &&
      this.lastSeq() === 0 &&
      sizeOf(this.discardedSet) === 0 &&
      sizeOf(this.membersById) === 0 &&
      this.title === '' &&
      this.replicaWatermarks === null
    )
  }

  private rebuild(): void {
    // Messages first, then the order log stamps them in place. Meanwhile the unsequenced set is
    // left alone and filled once at the end: at 100,000 messages, every pass through it costs.
    this.rebuilding = true
    try {
      const names = [...this.doc.share.keys()].sort((a, b) => rebuildRank(a) - rebuildRank(b))
      for (const name of names) this.readRoot(name, null)
    } finally {
      this.rebuilding = false
    }
    for (const [id, indexed] of this.messagesById ?? NO_ENTRIES) {
      if (indexed.seq === undefined && !indexed.deleted) this.addUnsequenced(id)
    }
  }

  private apply(tr: Y.Transaction): void {
    if (this.knowsNothing() && changesARoot(tr)) {
      // The first load (IndexedDB, a first sync) into an empty index: one pass over the roots is
      // cheaper than following 100,000 changed keys one at a time. Only when the index holds
      // nothing at all: a deleted key then has nothing here to remove, so reading what is left
      // is all the per-key path would have done.
      this.rebuild()
      this.version++
      for (const listener of this.listeners) listener()
      return
    }
    const rootNames = new Map<unknown, string>()
    for (const [name, type] of this.doc.share) rootNames.set(type, name)
    let changed = false
    let lostTrack = false
    for (const [type, keys] of tr.changed) {
      if (type._item !== null) continue // nested types are not part of the schema
      const name = rootNames.get(type)
      // Another reader of this doc already turned a new root into a typed Y.Map/Y.Array: the
      // changed instance is no longer in doc.share, so re-read every root instead of guessing.
      if (name === undefined) lostTrack = true
      else this.readRoot(name, keys)
      changed = true
    }
    if (lostTrack) for (const name of rootNames.values()) this.readRoot(name, null)
    this.removedInTransaction = null
    if (!changed) return
    this.version++
    for (const listener of this.listeners) listener()
  }

  /** Re-read the given keys of a root (null: all of them). */
  private readRoot(name: string, keys: Set<string | null> | null): void {
    if (name.startsWith(USER_ROOT_PREFIX)) {
      const map = this.doc.getMap(name)
      const user = name.slice(USER_ROOT_PREFIX.length)
      if (keys === null) for (const [key, value] of map.entries()) this.readUserKey(user, key, value)
      else for (const key of keys) if (key !== null) this.readUserKey(user, key, map.get(key))
    } else if (name === SYSTEM_ROOT) {
      // Announcements: messages only (the server writes nothing else there).
      const map = this.doc.getMap(name)
      for (const key of keys ?? map.keys()) {
        if (key?.startsWith(MESSAGE_KEY_PREFIX)) this.readUserKey(SYSTEM_AUTHOR, key, map.get(key))
      }
    } else if (name === SERVER_ROOT) {
      this.readOrderLog(this.doc.getArray<string>(SERVER_ROOT))
    } else if (name === META_ROOT) {
      const map = this.doc.getMap(META_ROOT)
      for (const key of keys ?? map.keys()) if (key !== null) this.readMetaKey(key, map.get(key))
    }
  }

  private readUserKey(user: string, key: string, value: unknown): void {
    if (key.startsWith(MESSAGE_KEY_PREFIX)) {
      const id = key.slice(MESSAGE_KEY_PREFIX.length)
      // A deleted message's entry leaves with its marker's arrival, in whichever order they come.
      const deletion = this.deletionInDocument(user, id)
      if (deletion) this.placeTombstone(user, id, deletion)
      else if (value === undefined) this.removeMessage(id)
      else if (messageRecordProblem(value, id) === undefined) this.putMessage(value as MessageRecord, user)
    } else if (key.startsWith(EDIT_KEY_PREFIX)) {
      const id = key.slice(EDIT_KEY_PREFIX.length)
      this.actions.setEdit(
        user,
        id,
        editRecordProblem(value) === undefined ? (value as EditRecord) : undefined,
      )
      this.markChanged(id)
    } else if (key.startsWith(DELETION_KEY_PREFIX)) {
      const id = key.slice(DELETION_KEY_PREFIX.length)
      // Never removed (the write rules refuse it): a marker, once seen, stays.
      if (deletionRecordProblem(value) !== undefined) return
      this.actions.setDeletion(user, id, value as DeletionRecord)
      this.placeTombstone(user, id, value as DeletionRecord)
      this.markChanged(id)
    } else if (key.startsWith(REACTION_KEY_PREFIX)) {
      const reaction = parseReactionKey(key)
      if (!reaction) return
      this.actions.setReaction(reaction.messageId, reaction.emoji, user, value === true)
      this.markChanged(reaction.messageId)
    } else if (key.startsWith(RECEIPT_KEY_PREFIX)) {
      const replica = key.slice(RECEIPT_KEY_PREFIX.length)
      this.replicaWatermarks ??= new Map()
      const replicas = this.replicaWatermarks.get(user) ?? new Map<string, Watermark>()
      this.replicaWatermarks.set(user, replicas)
      if (isWatermark(value)) replicas.set(replica, { d: value.d, r: value.r })
      else replicas.delete(replica)
      // Joined with what this replica saw before. A raise overwrites a key (a new item plus the
      // deletion of the old one); when frames arrive out of order Yjs applies the deletion at once
      // but holds the new item until its missing predecessors arrive, and the document alone would
      // show the watermark falling. Every deletion is covered by a raise (the server's write rules
      // enforce it), so once everything is exchanged the document's max equals this join.
      this.userWatermarks ??= new Map()
      let merged: Watermark = this.userWatermarks.get(user) ?? NO_WATERMARK
      for (const watermark of replicas.values()) merged = joinWatermarks(merged, watermark)
      this.userWatermarks.set(user, merged)
    }
  }

  /** A valid deletion marker of `author` for the message, read from the document. */
  private deletionInDocument(author: string, id: string): DeletionRecord | undefined {
    const known = this.actions.deletionOf(author, id)
    if (known) return known
    const value = this.doc.share.has(rootOfAuthor(author))
      ? this.doc.getMap(rootOfAuthor(author)).get(deletionKey(id))
      : undefined
    if (deletionRecordProblem(value) !== undefined) return undefined
    this.actions.setDeletion(author, id, value as DeletionRecord)
    return value as DeletionRecord
  }

  /**
   * The message becomes a tombstone in its place (live, sealed, or not here yet): same seq and
   * status, no text.
   */
  private placeTombstone(author: string, id: string, deletion: DeletionRecord): void {
    const sealed = this.sealedById?.get(id)
    if (sealed) {
      if (!sealed.deleted && sealed.author === author) {
        this.keepSealed(tombstoneOf(sealed.record, author, deletion), sealed.seq)
        this.markChanged(id)
      }
      return
    }
    const current = this.messagesById?.get(id)
    if (current?.deleted) return
    if (current && current.author !== author) return // another author's id: not this marker's
    const tombstone = tombstoneOf({ id }, author, deletion)
    if (!current) {
      this.putMessage(tombstone.record, author, true)
      return
    }
    // In place: seq, order and status stay, so readers refresh this one message.
    const placed: IndexedMessage = { ...tombstone, seq: current.seq }
    this.setMessage(id, placed)
    if (placed.seq !== undefined) this.sequenced[placed.seq - this.sealedThrough - 1] = placed
    else this.unsequencedSet?.delete(id)
    this.markChanged(id)
  }

  private markChanged(id: string): void {
    const stamp = this.actionChangedIds.push(id)
    this.actionStamps ??= new Map()
    this.actionStamps.set(id, stamp)
    for (const reply of this.replies?.get(id) ?? []) {
      this.actionStamps.set(reply, this.actionChangedIds.push(reply))
    }
  }

  private putMessage(record: MessageRecord, author: string, deleted?: true): void {
    // Keyed by the record's own id string, so every map below hashes one string object once.
    const id = record.id
    // A sealed message's entry met again (a late copy): it belongs to history, not the window.
    if (this.sealedById?.has(id)) return
    if (record.replyTo) this.noteReply(record.replyTo.id, id)
    if (this.rebuilding) {
      // Read before the order log (see rebuild): nothing is stamped yet.
      const known = sizeOf(this.messagesById)
      this.setMessage(
        id,
        deleted ? { record, author, seq: undefined, deleted } : { record, author, seq: undefined },
      )
      // Same size: two roots hold the id (a forgery the server refuses); the last one read wins.
      if (sizeOf(this.messagesById) !== known) this.addedIds.push(id)
      return
    }
    const rewritten = this.messagesById?.get(id)
    let seq = rewritten?.seq
    if (rewritten) this.structureVersion++
    else {
      this.addedIds.push(id)
      seq = this.stampsWithoutMessage?.get(id)
      if (seq !== undefined) this.stampsWithoutMessage!.delete(id)
      // Replies that arrived first quote it now.
      if (this.replies?.has(id)) this.markChanged(id)
    }
    const indexed: IndexedMessage = deleted ? { record, author, seq, deleted } : { record, author, seq }
    if (seq !== undefined && seq <= this.sealedThrough) {
      this.keepSealed(indexed, seq, this.sealedSignature(indexed))
      return
    }
    this.setMessage(id, indexed)
    if (sizeOf(this.discardedSet) > 0) this.discardedSet!.delete(id)
    // A tombstone without a stamp is not listed, nor stamped: deleting a message nobody was shown
    // sent is a discard, and a marker read before its (sealed) stamp must not show it as pending.
    if (seq !== undefined) this.sequenced[seq - this.sealedThrough - 1] = indexed
    else if (!deleted) this.addUnsequenced(id)
  }

  private removeMessage(id: string): void {
    const indexed = this.messagesById?.get(id)
    if (indexed) {
      this.messagesById!.delete(id)
      this.discardedSet ??= new Set()
      this.discardedSet.add(id)
      if (this.replies?.has(id)) this.markChanged(id)
      this.removedInTransaction ??= new Map()
      this.removedInTransaction.set(id, indexed)
      this.structureVersion++
      if (indexed.seq !== undefined) {
        this.sequenced[indexed.seq - this.sealedThrough - 1] = undefined
        this.stampsWithoutMessage ??= new Map()
        this.stampsWithoutMessage.set(id, indexed.seq)
      }
    }
    this.unsequencedSet?.delete(id)
  }

  /**
   * The entry at `seq` was sealed: its message (held here, or deleted earlier in this same
   * transaction by the seal itself) moves to history, and no longer counts as discarded.
   */
  private sealEntry(id: string, seq: number): void {
    this.stampsWithoutMessage?.delete(id)
    const indexed = this.messagesById?.get(id) ?? this.removedInTransaction?.get(id)
    if (!indexed) return
    this.messagesById?.delete(id)
    this.discardedSet?.delete(id)
    this.unsequencedSet?.delete(id)
    this.keepSealed(indexed, seq, this.sealedSignature(indexed))
  }

  /** The signature sealed with a message: its `s|` entry, which the seal deletes in the same transaction. */
  private sealedSignature(indexed: IndexedMessage): SignatureRecord | undefined {
    return indexed.deleted ? undefined : signatureOfSealed(this.doc, indexed.author, indexed.record.id)
  }

  private keepSealed(indexed: IndexedMessage, seq: number, signature?: SignatureRecord): void {
    if (this.options.keepHistory === false) {
      this.dropLiveCopy(indexed.record.id)
      return
    }
    const sealed: SealedMessage = { record: indexed.record, author: indexed.author, seq }
    if (indexed.deleted) sealed.deleted = true
    if (signature) sealed.signature = { key: signature.key, sig: signature.sig }
    if (indexed.record.replyTo) this.noteReply(indexed.record.replyTo.id, indexed.record.id)
    this.dropLiveCopy(indexed.record.id)
    this.sealedById ??= new Map()
    this.sealedById.set(indexed.record.id, sealed)
    this.historyVersion++
    // Replies quoting it show its text now (a page of history arrived).
    if (this.replies?.has(indexed.record.id)) this.markChanged(indexed.record.id)
  }

  /**
   * A live entry read before its stamp was known to be sealed (a rebuild, or its deletion still on
   * its way) is a late copy of this sealed message, not a pending one.
   */
  private dropLiveCopy(id: string): void {
    const live = this.messagesById?.get(id)
    if (live && live.seq === undefined) {
      this.messagesById!.delete(id)
      this.unsequencedSet?.delete(id)
      this.structureVersion++
    }
  }

  private setMessage(id: string, indexed: IndexedMessage): void {
    this.messagesById ??= new Map()
    this.messagesById.set(id, indexed)
  }

  private addUnsequenced(id: string): void {
    this.unsequencedSet ??= new Set()
    this.unsequencedSet.add(id)
  }

  private noteReply(originalId: string, replyId: string): void {
    this.replies ??= new Map()
    const replies = this.replies.get(originalId) ?? new Set<string>()
    this.replies.set(originalId, replies.add(replyId))
  }

  private readMetaKey(key: string, value: unknown): void {
    if (key === TITLE_KEY) {
      this.title = typeof value === 'string' ? value : ''
    } else if (key.startsWith(MEMBER_KEY_PREFIX)) {
      const user = key.slice(MEMBER_KEY_PREFIX.length)
      if (isMemberRecord(value)) {
        this.membersById ??= new Map()
        this.membersById.set(user, { role: value.role, joinedAt: value.joinedAt })
      } else this.membersById?.delete(user)
      this.membersVersion++
    }
  }

  private readOrderLog(log: Y.Array<string>): void {
    const { sealedThrough, gap } = orderLogPrefix(log)
    const knownEnd = this.lastSeq()
    const end = sealedThrough + log.length
    const lastKnown = this.order[this.order.length - 1]
    // The sequencer only appends and sealing only deletes the oldest entries, so the common case
    // is a pure append, a seal, or both; anything else (two sequencers interleaving, which the
    // server forbids) falls back to reading the whole log again.
    const appendOnly =
      !gap &&
      sealedThrough >= this.sealedThrough &&
      end >= knownEnd &&
      (lastKnown === undefined ||
        knownEnd <= sealedThrough ||
        log.get(knownEnd - sealedThrough - 1) === lastKnown)
    if (!appendOnly) {
      this.rereadOrderLog(log)
      return
    }
    if (sealedThrough > this.sealedThrough) {
      const count = Math.min(sealedThrough - this.sealedThrough, this.order.length)
      const sealed = this.order.splice(0, count)
      this.sequenced.splice(0, count)
      const firstSeq = this.sealedThrough + 1
      this.sealedThrough = sealedThrough
      for (let i = 0; i < sealed.length; i++) this.sealEntry(sealed[i]!, firstSeq + i)
      this.structureVersion++
    }
    const from = Math.max(knownEnd, sealedThrough)
    this.appendEntries(from < end ? log.slice(from - sealedThrough) : [])
  }

  /** Read the whole log again, forgetting every seq it gave before. */
  private rereadOrderLog(log: Y.Array<string>): void {
    const shape = readOrderLogShape(log)
    this.structureVersion++
    this.order.length = 0
    this.sequenced.length = 0
    this.stampsWithoutMessage = null
    this.integratedUpTo = 0
    for (const [id, indexed] of this.messagesById ?? NO_ENTRIES) {
      indexed.seq = undefined
      // While rebuilding, the unsequenced set is filled once at the end (see rebuild).
      if (!this.rebuilding && !indexed.deleted) this.addUnsequenced(id)
    }
    this.sealedThrough = Math.max(this.sealedThrough, shape.sealedThrough)
    const skip = this.sealedThrough - shape.sealedThrough
    this.appendEntries(shape.entries.slice(skip))
  }

  private appendEntries(entries: readonly string[]): void {
    for (const id of entries) {
      this.order.push(id)
      const seq = this.lastSeq()
      const indexed = id === '' ? undefined : this.messagesById?.get(id)
      if (indexed === undefined) {
        // Not here yet (or discarded); a repeated entry keeps its first position.
        if (id !== '' && !this.stampsWithoutMessage?.has(id)) {
          this.stampsWithoutMessage ??= new Map()
          this.stampsWithoutMessage.set(id, seq)
        }
        this.sequenced.push(undefined)
      } else if (indexed.seq !== undefined) {
        // A duplicate entry (two sequencers, which the server forbids): seq keeps its first position.
        this.sequenced.push(undefined)
      } else {
        indexed.seq = seq
        this.sequenced.push(indexed)
        if (!this.rebuilding) this.unsequencedSet?.delete(id)
      }
    }
  }
}

/** What the index walks when a Map is not made yet (see `ConversationIndex`); never written. */
const NO_ENTRIES: ReadonlyMap<string, never> = new Map<string, never>()
const sizeOf = (collection: { size: number } | null): number => collection?.size ?? 0

/**
 * What a message deleted for everyone keeps: its place and recipients, from the marker alone (a
 * replica that never held the message must show the same tombstone), so not what it answered.
 */
function tombstoneOf(
  record: Pick<MessageRecord, 'id'>,
  author: string,
  deletion: Pick<DeletionRecord, 'createdAt' | 'to'>,
): IndexedMessage {
  const kept: MessageRecord = { id: record.id, text: '', createdAt: deletion.createdAt, to: deletion.to }
  return { record: kept, author, seq: undefined, deleted: true }
}

/** Whether a transaction changed a root type (nested types are not part of the schema). */
function changesARoot(tr: Y.Transaction): boolean {
  for (const type of tr.changed.keys()) if (type._item === null) return true
  return false
}

/** Rebuild order: members, everyone's entries, then the order log that stamps them. */
const rebuildRank = (name: string): number => (name === META_ROOT ? 0 : name === SERVER_ROOT ? 2 : 1)

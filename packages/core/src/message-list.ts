import type { ConversationIndex, IndexedMessage } from './conversation-index.js'
import { compareUnsequenced } from './order.js'
import { type MessageRecord, SYSTEM_AUTHOR, type Watermark } from './schema.js'
import { type LatticeStatus, minStatus, NO_WATERMARK, recipientStatus, type Status } from './status.js'

export interface Message {
  id: string
  author: string
  text: string
  createdAt: number
  /** Position in the server's order log (1-based); absent until the server durably stamped it. */
  seq?: number
  /** Aggregate over the message's recipients (the weakest of them), or `failed`. */
  status: Status
  /** Recipients: the other writing members when it was sent. */
  to: string[]
  /** An announcement posted through the server (issue 16); its author is `SYSTEM_AUTHOR`. */
  announcement?: true
  /**
   * The message this one answers (issue 17), resolved when shown, never copied: its current text
   * when this replica holds it (live or paged-in history), `deleted` when it was deleted for
   * everyone, neither when it is not loaded (show who it answered and a placeholder).
   */
  replyTo?: { id: string; author: string; text?: string; deleted?: true }
  /** Members named as `@<userId>` in the text. */
  mentions?: string[]
  /** Per emoji (sorted), the members who reacted (sorted). */
  reactions?: Record<string, string[]>
  /** The author edited it: `text` is the latest edit's. */
  edited?: { at: number }
  /** Deleted for everyone: a tombstone in its place, with `text: ''`. */
  deleted?: true
}

interface Snapshot {
  version: number
  failures: number
  structure: number
  /** The highest seq and how much of the index's added-id journal this snapshot has seen. */
  orderLength: number
  addedSeen: number
  /** Sealed messages known here, by seq (DESIGN section 12). */
  history: Message[]
  historyVersion: number
  /** Sequenced messages by seq (private: patched in place by the next snapshot). */
  sequenced: Message[]
  pending: Message[]
  watermarks: Map<string, Watermark>
  messages: Message[]
  /** Built on first use: a cold list of 100,000 would otherwise pay 100,000 hash inserts up front. */
  byId: Map<string, Message> | undefined
  /** How much of the index's action journal this snapshot has seen. */
  actionsSeen: number
}

/**
 * `messages()` in display order (DESIGN section 4), kept up to date incrementally. A status is a
 * function of the message's seq and its recipients' watermarks, so a receipt raise from (d, r) to
 * (d', r') can only change messages with seq in (r, d']; a stamp only appends. Rebuilding every
 * message on every change cost ~150 ms per change at 100,000 messages; this touches only what
 * moved, and starts over only when something was deleted, rewritten or reordered.
 */
export class MessageList {
  private snapshot: Snapshot | undefined
  /** The action stamp each listed message was built at (see `ConversationIndex.actionStamp`). */
  private readonly builtAt = new WeakMap<Message, number>()

  constructor(
    private readonly index: ConversationIndex,
    /** Why a local, unsent message failed (it then shows `failed`), and a counter of such changes. */
    private readonly failures: { has(id: string): boolean; version(): number },
  ) {}

  current(): Message[] {
    return this.fresh().messages
  }

  get(messageId: string): Message | undefined {
    return byIdOf(this.fresh()).get(messageId)
  }

  private fresh(): Snapshot {
    const previous = this.snapshot
    const index = this.index
    if (previous && previous.version === index.version && previous.failures === this.failures.version()) {
      return previous
    }
    this.snapshot = (previous && this.patch(previous)) ?? this.build(previous)
    return this.snapshot
  }

  /** From scratch; unchanged messages keep their identity, so UIs can skip them cheaply. */
  private build(previous: Snapshot | undefined): Snapshot {
    const index = this.index
    const reuse = previous && byIdOf(previous)
    const place = (indexed: IndexedMessage, seq: number | undefined, status: Status): Message => {
      const old = reuse?.get(indexed.record.id)
      return old && this.isCurrent(old, indexed, status) && old.seq === seq
        ? old
        : this.toMessage(indexed, seq, status)
    }
    const sequenced: Message[] = []
    const statusOf = this.statusFunction()
    const live = index.sequenced
    const base = index.sealedThrough
    for (let position = 0; position < live.length; position++) {
      const indexed = live[position]
      const seq = base + position + 1
      if (indexed) sequenced.push(place(indexed, seq, statusOf(indexed.record, seq)))
    }
    const history = [...index.history.values()]
      .sort((a, b) => a.seq - b.seq)
      .map((sealed) => place(sealed, sealed.seq, statusOf(sealed.record, sealed.seq)))
    return this.snapshotOf(history, sequenced, this.pending(place), undefined)
  }

  /** Additions and raises only: patch the previous snapshot, or undefined to start over. */
  private patch(previous: Snapshot): Snapshot | undefined {
    const index = this.index
    if (
      previous.structure !== index.structureVersion ||
      previous.historyVersion !== index.historyVersion ||
      previous.failures !== this.failures.version()
    ) {
      return undefined
    }
    // A message whose stamp was already in the log arrived late: it belongs mid-list.
    for (let i = previous.addedSeen; i < index.addedIds.length; i++) {
      const seq = index.seqOf(index.addedIds[i]!)
      if (seq !== undefined && seq <= previous.orderLength) return undefined
    }
    const { history, sequenced } = previous
    const byId = previous.byId
    const statusOf = this.statusFunction()

    // Receipt raises: only seqs in (old r, new d] of a user whose watermark moved can change.
    let low = Number.POSITIVE_INFINITY
    let high = 0
    for (const [user, now] of index.watermarks()) {
      const before = previous.watermarks.get(user) ?? NO_WATERMARK
      if (before.d === now.d && before.r === now.r) continue
      low = Math.min(low, Math.min(before.r, before.d) + 1)
      high = Math.max(high, now.d, now.r)
    }
    const restatus = (list: Message[], indexedAt: (message: Message) => IndexedMessage): void => {
      for (let i = firstAtOrAfter(list, low); i < list.length; i++) {
        const message = list[i]!
        const seq = message.seq!
        if (seq > high) break
        const indexed = indexedAt(message)
        const status = statusOf(indexed.record, seq)
        if (status === message.status) continue
        const fresh = this.toMessage(indexed, seq, status)
        list[i] = fresh
        byId?.set(fresh.id, fresh)
      }
    }
    restatus(history, (message) => index.history.get(message.id)!)
    restatus(sequenced, (message) => index.sequencedAt(message.seq!)!)

    // New stamps: the order log only grew (anything else bumped the structure version).
    for (let seq = previous.orderLength + 1; seq <= index.lastSeq(); seq++) {
      const indexed = index.sequencedAt(seq)
      if (!indexed) continue
      const fresh = this.toMessage(indexed, seq, statusOf(indexed.record, seq))
      sequenced.push(fresh)
      byId?.set(fresh.id, fresh)
    }

    // Actions (issue 17): only the messages they touched are rebuilt, found by seq.
    const touched = new Set<string>()
    for (let i = previous.actionsSeen; i < index.actionChangedIds.length; i++)
      touched.add(index.actionChangedIds[i]!)
    for (const id of touched) {
      const seq = index.seqOf(id)
      if (seq === undefined) continue // unsequenced: rebuilt below with the pending ones
      const list = seq <= index.sealedThrough ? history : sequenced
      const at = firstAtOrAfter(list, seq)
      const listed = list[at]
      const indexed = index.find(id)
      if (!listed || listed.id !== id || !indexed) continue
      const fresh = this.toMessage(indexed, seq, listed.status)
      list[at] = fresh
      byId?.set(id, fresh)
    }

    // Unsequenced messages are few: reuse the previous ones that did not change.
    const previousPending = new Map(previous.pending.map((message) => [message.id, message]))
    const pending = this.pending((indexed, seq, status) => {
      const old = previousPending.get(indexed.record.id)
      const message = old && this.isCurrent(old, indexed, status) ? old : this.toMessage(indexed, seq, status)
      byId?.set(message.id, message)
      return message
    })
    return this.snapshotOf(history, sequenced, pending, byId)
  }

  private snapshotOf(
    history: Message[],
    sequenced: Message[],
    pending: Message[],
    byId: Map<string, Message> | undefined,
  ): Snapshot {
    const index = this.index
    return {
      version: index.version,
      failures: this.failures.version(),
      structure: index.structureVersion,
      orderLength: index.lastSeq(),
      addedSeen: index.addedIds.length,
      history,
      historyVersion: index.historyVersion,
      sequenced,
      pending,
      watermarks: new Map(index.watermarks()),
      messages: history.length === 0 ? sequenced.concat(pending) : history.concat(sequenced, pending),
      byId,
      actionsSeen: index.actionChangedIds.length,
    }
  }

  private toMessage(indexed: IndexedMessage, seq: number | undefined, status: Status): Message {
    const message = toMessage(this.index, indexed, seq, status)
    this.builtAt.set(message, this.index.actionStamp(message.id))
    return message
  }

  /** Whether a listed message still shows its record, status and actions. */
  private isCurrent(message: Message, indexed: IndexedMessage, status: Status): boolean {
    return (
      isCurrent(message, indexed, status) &&
      this.builtAt.get(message) === this.index.actionStamp(message.id) &&
      (message.deleted === true) === (indexed.deleted === true)
    )
  }

  /** Unsequenced messages (few: this replica's outbox and others' in flight), sorted. */
  private pending(place: (indexed: IndexedMessage, seq: undefined, status: Status) => Message): Message[] {
    const index = this.index
    const waiting: IndexedMessage[] = []
    for (const id of index.unsequencedIds) waiting.push(index.messages.get(id)!)
    return waiting
      .sort(compareUnsequenced)
      .map((indexed) =>
        place(indexed, undefined, this.failures.has(indexed.record.id) ? 'failed' : 'pending'),
      )
  }

  /**
   * The weakest of the recipients' statuses, for this moment's watermarks. Messages of one author
   * usually share their recipients, so the watermarks of the last recipient list are kept at hand.
   */
  private statusFunction(): (record: MessageRecord, seq: number) => LatticeStatus {
    const index = this.index
    let lastTo: readonly string[] = []
    let lastWatermarks: Watermark[] = []
    return (record, seq) => {
      const to = record.to
      if (to.length === 0) return 'sent'
      if (!sameList(to, lastTo)) {
        lastTo = to
        lastWatermarks = to.map((user) => index.watermarkOf(user))
      }
      let weakest: LatticeStatus = 'read'
      for (const watermark of lastWatermarks) {
        weakest = minStatus(weakest, recipientStatus(seq, watermark))
        if (weakest === 'sent') break
      }
      return weakest
    }
  }
}

function toMessage(
  index: ConversationIndex,
  indexed: IndexedMessage,
  seq: number | undefined,
  status: Status,
): Message {
  const { record, author } = indexed
  const edit = indexed.deleted ? undefined : index.actions.editOf(author, record.id)
  const message: Message = {
    id: record.id,
    author,
    text: edit ? edit.text : record.text,
    createdAt: record.createdAt,
    status,
    to: record.to,
  }
  if (seq !== undefined) message.seq = seq
  if (author === SYSTEM_AUTHOR) message.announcement = true
  if (record.replyTo) message.replyTo = quoteOf(index, record.replyTo)
  if (indexed.deleted) {
    message.deleted = true
    return message
  }
  if (record.mentions) message.mentions = record.mentions
  if (edit) message.edited = { at: edit.editedAt }
  const reactions = index.actions.reactionsOf(record.id)
  if (reactions) message.reactions = reactions
  return message
}

/** What a reply shows of the message it answers, from what this replica holds now. */
function quoteOf(
  index: ConversationIndex,
  { id, author }: { id: string; author: string },
): NonNullable<Message['replyTo']> {
  const original = index.find(id)
  if ((original && original.author !== author) || (!original && !index.isDeleted(author, id))) {
    return { id, author }
  }
  if (original?.deleted || index.isDeleted(author, id)) return { id, author, deleted: true }
  const edit = index.actions.editOf(author, id)
  return { id, author, text: edit ? edit.text : original!.record.text }
}

/** Whether a listed message still shows its record (which a rewrite in place replaces) and status. */
function isCurrent(message: Message, { record }: IndexedMessage, status: Status): boolean {
  return (
    message.status === status &&
    message.text === record.text &&
    message.createdAt === record.createdAt &&
    message.to === record.to
  )
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

function byIdOf(snapshot: Snapshot): Map<string, Message> {
  snapshot.byId ??= new Map(snapshot.messages.map((message) => [message.id, message]))
  return snapshot.byId
}

/** Index of the first message with seq >= `seq` in a list sorted by seq. */
function firstAtOrAfter(sequenced: Message[], seq: number): number {
  let low = 0
  let high = sequenced.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if (sequenced[middle]!.seq! < seq) low = middle + 1
    else high = middle
  }
  return low
}

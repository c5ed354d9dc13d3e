import type { Claim, SealedMessage } from '@ticks/core'

/**
 * The storage seam (DESIGN sections 5 and 10): an update log per document plus snapshot
 * compaction, a small summary row per conversation for listing, and the sequencer lease of each
 * conversation. Every adapter (memory, sqlite, postgres) runs the executable contract in
 * `test/store-contract.ts`.
 *
 * Durability contract: when `append` resolves, the updates and the summary are on disk (for
 * durable adapters), all or none of them. The room relies on this to make a stamp visible only
 * after it is stored.
 *
 * Several nodes may share one store (PostgreSQL; SQLite across processes on one machine): nothing
 * here may rely on one process being the only writer, and every time a lease is judged by is the
 * store's clock, never a caller's (nodes' clocks drift; the store is the one judge they share).
 */
export interface Store {
  /**
   * The stored updates of a document (snapshot first, as entry `SNAPSHOT_ENTRY`, then the log in
   * entry order), or undefined if it does not exist.
   */
  load(docId: string): Promise<StoredEntry[] | undefined>
  /**
   * What a node that holds every entry up to `afterEntry` lacks: the log entries after it, in
   * order. When compaction already folded an entry after `afterEntry` into the snapshot, those
   * entries are gone from the log, so the snapshot comes first (as `SNAPSHOT_ENTRY`) and then the
   * whole log; the caller applies it idempotently (Yjs updates are). Undefined for an unknown
   * document. This is how a node catches up after a relay gap or while the relay is down.
   */
  loadSince(docId: string, afterEntry: number): Promise<StoredEntry[] | undefined>
  /**
   * Append updates in one transaction (all or none), creating the document when absent, and
   * replace its summary when one is given. Resolves with the size of the log since the last
   * snapshot.
   *
   * Entries: the updates become entries `lastEntry - updates.length + 1 … lastEntry`, contiguous
   * and numbered in commit order per document, even with several processes appending to it at
   * once (so a node that received entries 5…7 over the relay and then 9…9 knows that 8 is
   * missing, and that nothing committed before 8 can still appear below it).
   *
   * With `guard.fence`, the append is a sequencer's stamp commit: in the same transaction the
   * document's lease must be held by `fence.nodeId` at exactly `fence.epoch` and not be expired,
   * else it rejects with `FencedError` and writes nothing (DESIGN section 10: an owner paused past
   * its lease must not stamp when it wakes). A takeover waits for a fenced commit in progress.
   *
   * With `guard.claims`, the append takes those ids of the document for good, in the same
   * transaction: when another append (of any node) already took one of them for another holder,
   * or two of them name one key with two holders, it rejects with `ClaimConflictError` and writes
   * nothing. A claim its holder already has is no conflict (the same write, sent again).
   *
   * With `guard.sealed`, the append is a seal (DESIGN section 12): those messages join the
   * document's history in the same transaction as the update that deletes them from the live
   * document, so no crash can lose them from both or keep them in both. A seq already in the
   * history keeps its record (the same seal, sent again).
   */
  append(
    docId: string,
    updates: readonly Uint8Array[],
    summary?: ConversationSummary,
    guard?: AppendGuard,
  ): Promise<LogSize>
  /**
   * Sealed messages of a document (DESIGN section 12): the `limit` with the highest seq below
   * `beforeSeq`, in ascending seq. A page never changes once written; empty for an unknown document.
   */
  history(docId: string, beforeSeq: number, limit: number): Promise<HistoryRecord[]>
  /**
   * The sealed messages of a document among `ids` (any order; ids it has not sealed are left
   * out). The live document no longer holds them, so this is how a room learns that an id is
   * taken, and by whom (at most `MAX_HISTORY_PAGE` ids per call).
   */
  sealedMessages(docId: string, ids: readonly string[]): Promise<HistoryRecord[]>
  /**
   * Take the text out of sealed messages their authors deleted for everyone (issue 17): each
   * record of `ids` becomes a tombstone (`text: ''`, `deleted: true`, no mentions or reply), in
   * place. The one change a history page ever sees. Resolves with how many records changed
   * (already redacted ones and ids not sealed are left alone; at most `MAX_HISTORY_PAGE` per call).
   */
  redactHistory(docId: string, ids: readonly string[]): Promise<number>
  /**
   * Atomically replace every log entry up to and including `throughEntry` (a `LogSize.lastEntry`)
   * with `snapshot`, which must contain all of them. Later entries stay in the log. A snapshot
   * through an earlier entry than the stored one's is stale (two compactions crossed): the stored
   * snapshot stays, as it holds more.
   */
  compact(docId: string, snapshot: Uint8Array, throughEntry: number): Promise<void>
  /**
   * Move entries that cannot be loaded out of the document, atomically, into the quarantine,
   * where they wait for an operator (`ticks-server quarantine`). Entries no longer stored (compacted
   * meanwhile) are skipped.
   */
  quarantine(docId: string, entries: readonly { entry: number; reason: string }[]): Promise<void>
  /** Quarantined entries, oldest first (of one document, or of all). */
  listQuarantined(docId?: string): Promise<QuarantinedEntry[]>
  /** Delete a quarantined entry for good; false when there is none with that id. */
  dropQuarantined(id: number): Promise<boolean>
  /** The id of every document (for an announcement to every conversation), in id order. */
  conversationIds(): Promise<string[]>
  /** Keep a record of an announcement an admin posted (issue 16), for `/admin` to list. */
  recordAnnouncement(record: AnnouncementRecord): Promise<void>
  /** The `limit` (at most `MAX_ANNOUNCEMENTS_PAGE`) most recently recorded announcements, newest first. */
  recentAnnouncements(limit: number): Promise<AnnouncementRecord[]>
  /** Summaries of the conversations `userId` is a member of, most recently updated first. */
  listConversations(userId: string): Promise<ConversationSummary[]>
  /**
   * Take (or extend) the sequencer lease of a document for `ttlMs`: granted when there is no
   * lease, when it expired, or when `nodeId` holds it (then extended at the same epoch).
   * Undefined while another node holds it. A new tenure gets the previous epoch + 1 (the first
   * ever: 1), also when `nodeId` itself let its lease lapse: stamps of its earlier tenure may
   * still be in flight and must stay fenced.
   */
  acquireLease(docId: string, nodeId: string, ttlMs: number): Promise<Lease | undefined>
  /**
   * Extend a lease by `ttlMs` from now, only while `nodeId` holds it at `epoch` and it has not
   * expired. False means lost: stop stamping (another node may already be).
   */
  renewLease(docId: string, nodeId: string, epoch: number, ttlMs: number): Promise<boolean>
  /**
   * Hand a lease back (a node shutting down or unloading the conversation): it expires now, so
   * another node need not wait out its time. The epoch stays, so the next holder gets epoch + 1.
   * Nothing happens unless `nodeId` holds it at `epoch`.
   */
  releaseLease(docId: string, nodeId: string, epoch: number): Promise<void>
  close(): Promise<void>
}

export interface LogSize {
  /** Log entries (not counting the snapshot). */
  entries: number
  /** Bytes in the log (not counting the snapshot). */
  bytes: number
  /** Position of the newest log entry: strictly increasing per document, never reused. */
  lastEntry: number
}

/** What `GET /api/conversations` lists, kept beside the document so listing never loads docs. */
export interface ConversationSummary {
  id: string
  title: string
  members: Record<string, { role: 'owner' | 'member' | 'observer'; joinedAt: number }>
  lastMessage: {
    id: string
    author: string
    text: string
    createdAt: number
    seq?: number
    /** Deleted for everyone (issue 17): `text` is ''. */
    deleted?: true
  } | null
  updatedAt: number
  /** What an inbox needs to count unread messages without the document (absent in old rows). */
  /** The order log's length: the highest `seq`. */
  lastSeq?: number
  /** Each member's read watermark (`r`: every message with seq ≤ r was shown to them). */
  reads?: Record<string, number>
  /** Each member's delivered watermark (`d`: a device of theirs integrated every seq ≤ d). */
  delivered?: Record<string, number>
  /** Authors of the last `RECENT_AUTHORS` sequenced messages, oldest first (seq lastSeq - n + 1 …). */
  recentAuthors?: string[]
  /** Members each of those messages mentions (issue 17), aligned with `recentAuthors`. */
  recentMentions?: string[][]
}

/** How far back a summary remembers authors, so unread counts are exact up to this many. */
export const RECENT_AUTHORS = 100

/** The entry number `load` gives a document's snapshot (log entries start at 1). */
export const SNAPSHOT_ENTRY = 0

export interface StoredEntry {
  entry: number
  update: Uint8Array
}

/** A stored update that could not be loaded, kept aside so that its conversation still opens. */
export interface QuarantinedEntry {
  /** The quarantine's own id (what `dropQuarantined` takes). */
  id: number
  docId: string
  /** Where it was: `SNAPSHOT_ENTRY` or a log entry. */
  entry: number
  update: Uint8Array
  reason: string
  quarantinedAt: number
}

/** Who may stamp a document, and until when (DESIGN section 10). */
export interface Lease {
  docId: string
  nodeId: string
  /** The fencing token: grows with every new holder, so a stale holder's stamps are refused. */
  epoch: number
  /** Milliseconds since 1970 by the store's clock; only the store judges expiry. */
  expiresAt: number
}

/** What an append must hold to commit, and the history it seals (see `Store.append`). */
export interface AppendGuard {
  fence?: Fence | undefined
  claims?: readonly Claim[] | undefined
  sealed?: readonly HistoryRecord[] | undefined
}

/** A sealed message as the history keeps it: immutable once written. */
export interface HistoryRecord {
  seq: number
  id: string
  author: string
  text: string
  createdAt: number
  to: string[]
  /** The message it answers (issue 17). */
  replyTo?: { id: string; author: string }
  mentions?: string[]
  /** Deleted for everyone: `text` is '' (sealed as a tombstone, or redacted since). */
  deleted?: true
  /**
   * The author's signature (issue 16), which left the live document when the message was sealed.
   * Records stored before it was kept here have none (see the core README: signed messages).
   */
  signature?: { key: string; sig: string }
}

/** How the history keeps a message the sequencer sealed. */
export const historyRecordOf = ({
  record,
  author,
  seq,
  deleted,
  signature,
}: SealedMessage): HistoryRecord => {
  const kept: HistoryRecord = {
    seq,
    id: record.id,
    author,
    text: record.text,
    createdAt: record.createdAt,
    to: record.to,
  }
  if (deleted) return redactedRecord(kept)
  if (record.replyTo) kept.replyTo = record.replyTo
  if (record.mentions) kept.mentions = record.mentions
  if (signature) kept.signature = { key: signature.key, sig: signature.sig }
  return kept
}

/** A history record without what its author deleted for everyone. */
export const redactedRecord = ({ seq, id, author, createdAt, to }: HistoryRecord): HistoryRecord => ({
  seq,
  id,
  author,
  text: '',
  createdAt,
  to,
  deleted: true,
})

/** The most messages one `history` call returns. */
export const MAX_HISTORY_PAGE = 200

/**
 * An announcement as an admin posted it (issue 16): what, by whom, when, and where it went. The
 * messages themselves live in each conversation's `system` root; this is the admins' record of
 * them, so that listing them loads no conversation.
 */
export interface AnnouncementRecord {
  /** The post's own id (each conversation's message has an id of its own). */
  id: string
  text: string
  postedBy: string
  /** Milliseconds since 1970. */
  postedAt: number
  /** The one conversation it was posted into; null: into every conversation. */
  conversationId: string | null
  /** Conversations it reached, and those where it failed (closed, too large…). */
  delivered: number
  failed: number
}

/** The most announcements one `recentAnnouncements` call returns. */
export const MAX_ANNOUNCEMENTS_PAGE = 200

export type { Claim }

/** What a stamp commit proves it is entitled to: the lease it holds. */
export interface Fence {
  nodeId: string
  epoch: number
}

/**
 * An append refused because its fence no longer matches the lease (expired, or taken over).
 * Nothing was written: the caller must step down, not retry, and not treat the store as failing.
 */
export class FencedError extends Error {
  readonly code = 'fenced'

  constructor(message = 'the sequencer lease is not held') {
    super(message)
    this.name = 'FencedError'
  }
}

/**
 * An append refused because another holder already took one of its claims (an id written on two
 * nodes at once): nothing was written. The caller's document holds the losing write: it must be
 * dropped and reloaded from the store, where the winner is.
 */
export class ClaimConflictError extends Error {
  readonly code = 'claimed'

  constructor(message: string) {
    super(message)
    this.name = 'ClaimConflictError'
  }
}

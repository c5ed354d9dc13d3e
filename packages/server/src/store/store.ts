/**
 * The storage seam (DESIGN section 5): an update log per document plus snapshot compaction, and a
 * small summary row per conversation for listing. Every adapter (memory, sqlite, later postgres)
 * runs the executable contract in `test/store-contract.ts`.
 *
 * Durability contract: when `append` resolves, the updates and the summary are on disk (for
 * durable adapters), all or none of them. The room relies on this to make a stamp visible only
 * after it is stored.
 */
export interface Store {
  /**
   * The stored updates of a document (snapshot first, as entry `SNAPSHOT_ENTRY`, then the log in
   * entry order), or undefined if it does not exist.
   */
  load(docId: string): Promise<StoredEntry[] | undefined>
  /**
   * Append updates in one transaction (all or none), creating the document when absent, and
   * replace its summary when one is given. Resolves with the size of the log since the last snapshot.
   */
  append(docId: string, updates: readonly Uint8Array[], summary?: ConversationSummary): Promise<LogSize>
  /**
   * Atomically replace every log entry up to and including `throughEntry` (a `LogSize.lastEntry`)
   * with `snapshot`, which must contain all of them. Later entries stay in the log.
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
  /** Summaries of the conversations `userId` is a member of, most recently updated first. */
  listConversations(userId: string): Promise<ConversationSummary[]>
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
  lastMessage: { id: string; author: string; text: string; createdAt: number; seq?: number } | null
  updatedAt: number
}

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

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
  /** The stored updates of a document (snapshot first, then the log), or undefined if it does not exist. */
  load(docId: string): Promise<Uint8Array[] | undefined>
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

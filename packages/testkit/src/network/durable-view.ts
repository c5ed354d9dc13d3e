import { ConversationIndex } from '@ticks/core'
import type {
  AnnouncementRecord,
  AppendGuard,
  ConversationSummary,
  HistoryRecord,
  Lease,
  LogSize,
  QuarantinedEntry,
  Store,
  StoredEntry,
} from '@ticks/server'
import * as Y from 'yjs'

/**
 * A store that remembers what was durably committed, as a document of its own. The simulator
 * checks `sent ⇒ stored` against it: when any replica first sees a message as `sent`, the
 * stamp it sees must already be in here (DESIGN section 3: `sent` means persisted).
 */
export class DurableView implements Store {
  readonly doc = new Y.Doc()
  readonly index = new ConversationIndex(this.doc)
  /** Commits the room made (`initialize` is none). */
  commits = 0
  /** What the room sealed into history, by seq: the pages a member could read. */
  private readonly sealedBySeq = new Map<number, HistoryRecord>()
  private readonly sealedSeqById = new Map<string, number>()

  constructor(private readonly inner: Store) {}

  load(docId: string): Promise<StoredEntry[] | undefined> {
    return this.inner.load(docId)
  }

  loadSince(docId: string, afterEntry: number): Promise<StoredEntry[] | undefined> {
    return this.inner.loadSince(docId, afterEntry)
  }

  quarantine(docId: string, entries: readonly { entry: number; reason: string }[]): Promise<void> {
    return this.inner.quarantine(docId, entries)
  }

  listQuarantined(docId?: string): Promise<QuarantinedEntry[]> {
    return this.inner.listQuarantined(docId)
  }

  dropQuarantined(id: number): Promise<boolean> {
    return this.inner.dropQuarantined(id)
  }

  /** The conversation as it was created: stored and seen, but no commit of the room's. */
  async initialize(docId: string, update: Uint8Array): Promise<void> {
    await this.inner.append(docId, [update])
    Y.applyUpdate(this.doc, update)
  }

  async append(
    docId: string,
    updates: readonly Uint8Array[],
    summary?: ConversationSummary,
    guard?: AppendGuard,
  ): Promise<LogSize> {
    const size = await this.inner.append(docId, updates, summary, guard)
    // Only after the inner store resolved: that is the moment the data counts as durable.
    Y.transact(this.doc, () => {
      for (const update of updates) Y.applyUpdate(this.doc, update)
    })
    for (const record of guard?.sealed ?? []) {
      if (this.sealedBySeq.has(record.seq)) continue
      this.sealedBySeq.set(record.seq, record)
      this.sealedSeqById.set(record.id, record.seq)
    }
    this.commits++
    return size
  }

  /**
   * The seq the store holds for a message: from the stored document, or from the history when
   * it was sealed (a commit can stamp and seal a message at once, and then no document ever
   * shows its stamp).
   */
  seqOf(messageId: string): number | undefined {
    return this.index.seqOf(messageId) ?? this.sealedSeqById.get(messageId)
  }

  /** Every sealed message, in seq order (a member paging back through the whole history). */
  sealed(): HistoryRecord[] {
    return [...this.sealedBySeq.values()].sort((a, b) => a.seq - b.seq)
  }

  history(docId: string, beforeSeq: number, limit: number): Promise<HistoryRecord[]> {
    return this.inner.history(docId, beforeSeq, limit)
  }

  sealedMessages(docId: string, ids: readonly string[]): Promise<HistoryRecord[]> {
    return this.inner.sealedMessages(docId, ids)
  }

  async redactHistory(docId: string, ids: readonly string[]): Promise<number> {
    const changed = await this.inner.redactHistory(docId, ids)
    // What the store keeps now: redacted records replace the ones seen sealed.
    if (changed > 0)
      for (const record of await this.inner.sealedMessages(docId, ids))
        this.sealedBySeq.set(record.seq, record)
    return changed
  }

  compact(docId: string, snapshot: Uint8Array, throughEntry: number): Promise<void> {
    return this.inner.compact(docId, snapshot, throughEntry)
  }

  conversationIds(): Promise<string[]> {
    return this.inner.conversationIds()
  }

  recordAnnouncement(record: AnnouncementRecord): Promise<void> {
    return this.inner.recordAnnouncement(record)
  }

  recentAnnouncements(limit: number): Promise<AnnouncementRecord[]> {
    return this.inner.recentAnnouncements(limit)
  }

  listConversations(userId: string): Promise<ConversationSummary[]> {
    return this.inner.listConversations(userId)
  }

  acquireLease(docId: string, nodeId: string, ttlMs: number): Promise<Lease | undefined> {
    return this.inner.acquireLease(docId, nodeId, ttlMs)
  }

  renewLease(docId: string, nodeId: string, epoch: number, ttlMs: number): Promise<boolean> {
    return this.inner.renewLease(docId, nodeId, epoch, ttlMs)
  }

  releaseLease(docId: string, nodeId: string, epoch: number): Promise<void> {
    return this.inner.releaseLease(docId, nodeId, epoch)
  }

  async close(): Promise<void> {
    this.index.destroy()
    this.doc.destroy()
    await this.inner.close()
  }
}

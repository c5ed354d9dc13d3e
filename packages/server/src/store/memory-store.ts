import { claimProblem } from './claim-rules.js'
import { fenceProblem, grantLease, holds, leaseState } from './lease-rules.js'
import {
  type AnnouncementRecord,
  type AppendGuard,
  ClaimConflictError,
  type ConversationSummary,
  FencedError,
  type HistoryRecord,
  type Lease,
  type LogSize,
  MAX_ANNOUNCEMENTS_PAGE,
  MAX_HISTORY_PAGE,
  type QuarantinedEntry,
  redactedRecord,
  SNAPSHOT_ENTRY,
  type Store,
  type StoredEntry,
} from './store.js'

interface MemoryDocument {
  snapshot: Uint8Array | null
  /** The highest entry the snapshot folded in (what `loadSince` compares with). */
  snapshotThrough: number
  log: { entry: number; update: Uint8Array }[]
  nextEntry: number
  summary: ConversationSummary | undefined
  /** Sealed messages by seq. */
  history: Map<number, HistoryRecord>
}

/** An in-process store for tests and `--store memory`: nothing survives the process. */
export class MemoryStore implements Store {
  private readonly documents = new Map<string, MemoryDocument>()
  private readonly leases = new Map<string, Lease>()
  /** Per document: claim key → holder. */
  private readonly claims = new Map<string, Map<string, string>>()
  private readonly quarantined: QuarantinedEntry[] = []
  /** Oldest first. */
  private readonly announcements: AnnouncementRecord[] = []
  private nextQuarantineId = 1
  private closed = false

  async load(docId: string): Promise<StoredEntry[] | undefined> {
    this.assertOpen()
    const document = this.documents.get(docId)
    if (!document) return undefined
    const entries = document.log.map(({ entry, update }) => ({ entry, update: update.slice() }))
    return document.snapshot
      ? [{ entry: SNAPSHOT_ENTRY, update: document.snapshot.slice() }, ...entries]
      : entries
  }

  async loadSince(docId: string, afterEntry: number): Promise<StoredEntry[] | undefined> {
    this.assertOpen()
    const document = this.documents.get(docId)
    if (!document) return undefined
    const entries = document.log
      .filter(({ entry }) => entry > afterEntry)
      .map(({ entry, update }) => ({ entry, update: update.slice() }))
    return document.snapshot && document.snapshotThrough > afterEntry
      ? [{ entry: SNAPSHOT_ENTRY, update: document.snapshot.slice() }, ...entries]
      : entries
  }

  async quarantine(docId: string, entries: readonly { entry: number; reason: string }[]): Promise<void> {
    this.assertOpen()
    const document = this.documents.get(docId)
    if (!document) return
    for (const { entry, reason } of entries) {
      let update: Uint8Array | undefined
      if (entry === SNAPSHOT_ENTRY) {
        update = document.snapshot ?? undefined
        document.snapshot = null
      } else {
        const index = document.log.findIndex((stored) => stored.entry === entry)
        if (index >= 0) update = document.log.splice(index, 1)[0]!.update
      }
      if (!update) continue
      const id = this.nextQuarantineId++
      this.quarantined.push({ id, docId, entry, update, reason, quarantinedAt: Date.now() })
    }
  }

  async listQuarantined(docId?: string): Promise<QuarantinedEntry[]> {
    this.assertOpen()
    return this.quarantined
      .filter((entry) => docId === undefined || entry.docId === docId)
      .map((entry) => ({ ...entry, update: entry.update.slice() }))
  }

  async dropQuarantined(id: number): Promise<boolean> {
    this.assertOpen()
    const index = this.quarantined.findIndex((entry) => entry.id === id)
    if (index < 0) return false
    this.quarantined.splice(index, 1)
    return true
  }

  async append(
    docId: string,
    updates: readonly Uint8Array[],
    summary?: ConversationSummary,
    { fence, claims = [], sealed = [] }: AppendGuard = {},
  ): Promise<LogSize> {
    this.assertOpen()
    if (fence) {
      const problem = fenceProblem(docId, fence, leaseState(this.leases.get(docId), Date.now()))
      if (problem) throw new FencedError(problem)
    }
    const held = this.claims.get(docId) ?? new Map<string, string>()
    const conflict = claimProblem(docId, claims, (key) => held.get(key))
    if (conflict) throw new ClaimConflictError(conflict)
    for (const { key, holder } of claims) held.set(key, holder)
    if (held.size > 0) this.claims.set(docId, held)
    let document = this.documents.get(docId)
    if (!document) {
      document = {
        snapshot: null,
        snapshotThrough: 0,
        log: [],
        nextEntry: 1,
        summary: undefined,
        history: new Map(),
      }
      this.documents.set(docId, document)
    }
    // Copies: a caller reusing its buffer must not change what was stored.
    for (const update of updates) document.log.push({ entry: document.nextEntry++, update: update.slice() })
    if (summary) document.summary = structuredClone(summary)
    for (const record of sealed) {
      if (!document.history.has(record.seq)) document.history.set(record.seq, structuredClone(record))
    }
    return sizeOf(document)
  }

  async history(docId: string, beforeSeq: number, limit: number): Promise<HistoryRecord[]> {
    this.assertOpen()
    const history = this.documents.get(docId)?.history
    if (!history) return []
    const page = [...history.values()]
      .filter((record) => record.seq < beforeSeq)
      .sort((a, b) => a.seq - b.seq)
      .slice(-Math.min(limit, MAX_HISTORY_PAGE))
    return structuredClone(page)
  }

  async redactHistory(docId: string, ids: readonly string[]): Promise<number> {
    this.assertOpen()
    const wanted = new Set(ids.slice(0, MAX_HISTORY_PAGE))
    const history = this.documents.get(docId)?.history
    let changed = 0
    for (const [seq, record] of history ?? []) {
      if (!wanted.has(record.id) || record.deleted) continue
      history!.set(seq, redactedRecord(record))
      changed++
    }
    return changed
  }

  async sealedMessages(docId: string, ids: readonly string[]): Promise<HistoryRecord[]> {
    this.assertOpen()
    const wanted = new Set(ids.slice(0, MAX_HISTORY_PAGE))
    const history = this.documents.get(docId)?.history
    return structuredClone([...(history?.values() ?? [])].filter((record) => wanted.has(record.id)))
  }

  async compact(docId: string, snapshot: Uint8Array, throughEntry: number): Promise<void> {
    this.assertOpen()
    const document = this.documents.get(docId)
    if (!document) throw new Error(`no document ${docId}`)
    if (throughEntry >= document.snapshotThrough) document.snapshot = snapshot.slice()
    document.snapshotThrough = Math.max(document.snapshotThrough, throughEntry)
    document.log = document.log.filter(({ entry }) => entry > throughEntry)
  }

  async conversationIds(): Promise<string[]> {
    this.assertOpen()
    return [...this.documents.keys()].sort()
  }

  async recordAnnouncement(record: AnnouncementRecord): Promise<void> {
    this.assertOpen()
    this.announcements.push(structuredClone(record))
  }

  async recentAnnouncements(limit: number): Promise<AnnouncementRecord[]> {
    this.assertOpen()
    const count = Math.min(limit, MAX_ANNOUNCEMENTS_PAGE)
    return structuredClone(this.announcements.slice(-count).reverse())
  }

  async listConversations(userId: string): Promise<ConversationSummary[]> {
    this.assertOpen()
    const summaries: ConversationSummary[] = []
    for (const { summary } of this.documents.values()) {
      if (summary && Object.hasOwn(summary.members, userId)) summaries.push(structuredClone(summary))
    }
    return summaries.sort((a, b) => b.updatedAt - a.updatedAt || a.id.localeCompare(b.id))
  }

  async acquireLease(docId: string, nodeId: string, ttlMs: number): Promise<Lease | undefined> {
    this.assertOpen()
    const lease = grantLease(docId, this.leases.get(docId), nodeId, ttlMs, Date.now())
    if (lease) this.leases.set(docId, lease)
    return lease && { ...lease }
  }

  async renewLease(docId: string, nodeId: string, epoch: number, ttlMs: number): Promise<boolean> {
    this.assertOpen()
    const now = Date.now()
    const lease = this.leases.get(docId)
    if (!holds(lease, nodeId, epoch, now)) return false
    lease!.expiresAt = now + ttlMs
    return true
  }

  async releaseLease(docId: string, nodeId: string, epoch: number): Promise<void> {
    this.assertOpen()
    const now = Date.now()
    const lease = this.leases.get(docId)
    if (holds(lease, nodeId, epoch, now)) lease!.expiresAt = now
  }

  async close(): Promise<void> {
    this.closed = true
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('store is closed')
  }
}

function sizeOf(document: MemoryDocument): LogSize {
  let bytes = 0
  for (const { update } of document.log) bytes += update.byteLength
  return { entries: document.log.length, bytes, lastEntry: document.nextEntry - 1 }
}

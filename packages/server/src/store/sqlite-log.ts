import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { claimProblem, sortedClaims } from './claim-rules.js'
import { fenceProblem, grantLease, holds, leaseState } from './lease-rules.js'
import {
  type AnnouncementRecord,
  type Claim,
  type ConversationSummary,
  type Fence,
  type HistoryRecord,
  type Lease,
  type LogSize,
  MAX_ANNOUNCEMENTS_PAGE,
  MAX_HISTORY_PAGE,
  type QuarantinedEntry,
  redactedRecord,
  SNAPSHOT_ENTRY,
  type StoredEntry,
} from './store.js'

const SCHEMA = `
CREATE TABLE IF NOT EXISTS documents (
  id TEXT PRIMARY KEY,
  snapshot BLOB,
  -- The highest entry ever written: entries are never reused, even once compaction emptied the log.
  entry_mark INTEGER NOT NULL DEFAULT 0,
  -- The highest entry the snapshot folded in: loadSince sends the snapshot to whoever lacks one.
  snapshot_through INTEGER NOT NULL DEFAULT 0,
  summary TEXT,
  updated_at INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS updates (
  doc_id TEXT NOT NULL,
  entry INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (doc_id, entry)
) WITHOUT ROWID;
-- Stored updates that could not be loaded, kept aside for an operator (entry 0: the snapshot).
CREATE TABLE IF NOT EXISTS quarantine (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  doc_id TEXT NOT NULL,
  entry INTEGER NOT NULL,
  data BLOB NOT NULL,
  reason TEXT NOT NULL,
  quarantined_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS members (
  user_id TEXT NOT NULL,
  doc_id TEXT NOT NULL,
  PRIMARY KEY (user_id, doc_id)
) WITHOUT ROWID;
-- Sequencer leases (DESIGN section 10), judged by this machine's clock (ms since 1970).
CREATE TABLE IF NOT EXISTS leases (
  doc_id TEXT PRIMARY KEY,
  node_id TEXT NOT NULL,
  epoch INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
-- Sealed messages (DESIGN section 12), immutable once written: see Store.history.
CREATE TABLE IF NOT EXISTS history (
  doc_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  record TEXT NOT NULL,
  PRIMARY KEY (doc_id, seq)
) WITHOUT ROWID;
-- Sealed messages by id, for the write rules (an id stays taken once sealed).
CREATE INDEX IF NOT EXISTS history_by_message ON history (doc_id, json_extract(record, '$.id'));
-- What admins announced (issue 16), in the order recorded: see Store.recordAnnouncement.
CREATE TABLE IF NOT EXISTS announcements (
  position INTEGER PRIMARY KEY AUTOINCREMENT,
  record TEXT NOT NULL
);
-- Ids taken for good (message ids, Yjs client ids) and who holds them: see Store.append.
CREATE TABLE IF NOT EXISTS claims (
  doc_id TEXT NOT NULL,
  key TEXT NOT NULL,
  holder TEXT NOT NULL,
  PRIMARY KEY (doc_id, key)
) WITHOUT ROWID;
`

/**
 * Files written before `snapshot_through` existed: their snapshots folded in an unknown prefix of
 * the log, so they count as folding in everything up to the entry mark. Too high only makes
 * loadSince send the snapshot to a node that did not need it, which applying it idempotently absorbs.
 */
function migrate(db: Database.Database): void {
  const columns = db.prepare<[], { name: string }>('PRAGMA table_info(documents)').all()
  if (columns.some(({ name }) => name === 'snapshot_through')) return
  db.transaction(() => {
    db.exec('ALTER TABLE documents ADD COLUMN snapshot_through INTEGER NOT NULL DEFAULT 0')
    db.exec('UPDATE documents SET snapshot_through = entry_mark WHERE snapshot IS NOT NULL')
  }).immediate()
}

/**
 * The SQLite side of the embedded store: synchronous (better-sqlite3), run on a worker thread by
 * `SqliteStore` so a commit's fsync never blocks the server's event loop. One file, WAL,
 * `synchronous=FULL` so a committed transaction survives power loss, not only a process crash.
 */
export class SqliteLog {
  private readonly db: Database.Database
  private readonly statements
  private readonly logSizes = new Map<string, { entries: number; bytes: number }>()
  private readonly storedMembers = new Map<string, string>()

  constructor(readonly file: string) {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true })
    this.db = new Database(file)
    this.db.pragma('journal_mode = WAL')
    this.db.pragma('synchronous = FULL')
    this.db.pragma('busy_timeout = 5000')
    this.db.exec(SCHEMA)
    // CREATE TABLE IF NOT EXISTS adds no column to a table an older version created.
    migrate(this.db)
    this.statements = {
      document: this.db.prepare<[string], { snapshot: Buffer | null; snapshot_through: number }>(
        'SELECT snapshot, snapshot_through FROM documents WHERE id = ?',
      ),
      log: this.db.prepare<[string], { entry: number; data: Buffer }>(
        'SELECT entry, data FROM updates WHERE doc_id = ? ORDER BY entry',
      ),
      logSince: this.db.prepare<[string, number], { entry: number; data: Buffer }>(
        'SELECT entry, data FROM updates WHERE doc_id = ? AND entry > ? ORDER BY entry',
      ),
      logEntry: this.db.prepare<[string, number], { data: Buffer }>(
        'SELECT data FROM updates WHERE doc_id = ? AND entry = ?',
      ),
      deleteLogEntry: this.db.prepare('DELETE FROM updates WHERE doc_id = ? AND entry = ?'),
      insertQuarantined: this.db.prepare(
        'INSERT INTO quarantine (doc_id, entry, data, reason, quarantined_at) VALUES (?, ?, ?, ?, ?)',
      ),
      quarantined: this.db.prepare<
        [string | null, string | null],
        { id: number; doc_id: string; entry: number; data: Buffer; reason: string; quarantined_at: number }
      >('SELECT * FROM quarantine WHERE ? IS NULL OR doc_id = ? ORDER BY id'),
      dropQuarantined: this.db.prepare('DELETE FROM quarantine WHERE id = ?'),
      ensureDocument: this.db.prepare('INSERT OR IGNORE INTO documents (id) VALUES (?)'),
      entryMark: this.db.prepare<[string], { mark: number }>(
        'SELECT entry_mark AS mark FROM documents WHERE id = ?',
      ),
      setEntryMark: this.db.prepare('UPDATE documents SET entry_mark = ? WHERE id = ?'),
      claimHolder: this.db.prepare<[string, string], { holder: string }>(
        'SELECT holder FROM claims WHERE doc_id = ? AND key = ?',
      ),
      insertClaim: this.db.prepare('INSERT OR IGNORE INTO claims (doc_id, key, holder) VALUES (?, ?, ?)'),
      insertUpdate: this.db.prepare('INSERT INTO updates (doc_id, entry, data) VALUES (?, ?, ?)'),
      insertHistory: this.db.prepare('INSERT OR IGNORE INTO history (doc_id, seq, record) VALUES (?, ?, ?)'),
      history: this.db.prepare<[string, number, number], { record: string }>(
        'SELECT record FROM history WHERE doc_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?',
      ),
      sealedMessages: this.db.prepare<[string, string], { record: string }>(
        "SELECT record FROM history WHERE doc_id = ? AND json_extract(record, '$.id') IN (SELECT value FROM json_each(?))",
      ),
      rewriteHistory: this.db.prepare('UPDATE history SET record = ? WHERE doc_id = ? AND seq = ?'),
      logSize: this.db.prepare<[string], { entries: number; bytes: number | null }>(
        'SELECT COUNT(*) AS entries, SUM(LENGTH(data)) AS bytes FROM updates WHERE doc_id = ?',
      ),
      setSummary: this.db.prepare('UPDATE documents SET summary = ?, updated_at = ? WHERE id = ?'),
      insertAnnouncement: this.db.prepare('INSERT INTO announcements (record) VALUES (?)'),
      recentAnnouncements: this.db.prepare<[number], { record: string }>(
        'SELECT record FROM announcements ORDER BY position DESC LIMIT ?',
      ),
      deleteMembers: this.db.prepare('DELETE FROM members WHERE doc_id = ?'),
      insertMember: this.db.prepare('INSERT INTO members (user_id, doc_id) VALUES (?, ?)'),
      setSnapshot: this.db.prepare('UPDATE documents SET snapshot = ? WHERE id = ?'),
      compactSnapshot: this.db.prepare(
        `UPDATE documents SET snapshot = CASE WHEN snapshot_through <= :through THEN :snapshot ELSE snapshot END,
           snapshot_through = MAX(snapshot_through, :through) WHERE id = :id`,
      ),
      lease: this.db.prepare<[string], { node_id: string; epoch: number; expires_at: number }>(
        'SELECT node_id, epoch, expires_at FROM leases WHERE doc_id = ?',
      ),
      putLease: this.db.prepare(
        `INSERT INTO leases (doc_id, node_id, epoch, expires_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (doc_id) DO UPDATE SET node_id = excluded.node_id, epoch = excluded.epoch,
           expires_at = excluded.expires_at`,
      ),
      setLeaseExpiry: this.db.prepare('UPDATE leases SET expires_at = ? WHERE doc_id = ?'),
      deleteLog: this.db.prepare('DELETE FROM updates WHERE doc_id = ? AND entry <= ?'),
      ids: this.db.prepare<[], { id: string }>('SELECT id FROM documents ORDER BY id'),
      list: this.db.prepare<[string], { summary: string }>(
        `SELECT d.summary FROM members m JOIN documents d ON d.id = m.doc_id
         WHERE m.user_id = ? AND d.summary IS NOT NULL ORDER BY d.updated_at DESC, d.id`,
      ),
    }
  }

  load(docId: string): StoredEntry[] | undefined {
    const read = this.db.transaction(() => {
      const document = this.statements.document.get(docId)
      if (!document) return undefined
      const entries = this.statements.log
        .all(docId)
        .map((row) => ({ entry: row.entry, update: toBytes(row.data) }))
      return document.snapshot
        ? [{ entry: SNAPSHOT_ENTRY, update: toBytes(document.snapshot) }, ...entries]
        : entries
    })
    return read()
  }

  loadSince(docId: string, afterEntry: number): StoredEntry[] | undefined {
    const read = this.db.transaction(() => {
      const document = this.statements.document.get(docId)
      if (!document) return undefined
      const entries = this.statements.logSince
        .all(docId, afterEntry)
        .map((row) => ({ entry: row.entry, update: toBytes(row.data) }))
      return document.snapshot && document.snapshot_through > afterEntry
        ? [{ entry: SNAPSHOT_ENTRY, update: toBytes(document.snapshot) }, ...entries]
        : entries
    })
    return read()
  }

  quarantine(docId: string, entries: readonly { entry: number; reason: string }[]): void {
    const move = this.db.transaction(() => {
      const now = Date.now()
      for (const { entry, reason } of entries) {
        const data =
          entry === SNAPSHOT_ENTRY
            ? this.statements.document.get(docId)?.snapshot
            : this.statements.logEntry.get(docId, entry)?.data
        if (!data) continue
        this.statements.insertQuarantined.run(docId, entry, data, reason, now)
        if (entry === SNAPSHOT_ENTRY) this.statements.setSnapshot.run(null, docId)
        else this.statements.deleteLogEntry.run(docId, entry)
      }
    })
    move.immediate()
    this.logSizes.delete(docId)
  }

  listQuarantined(docId?: string): QuarantinedEntry[] {
    return this.statements.quarantined.all(docId ?? null, docId ?? null).map((row) => ({
      id: row.id,
      docId: row.doc_id,
      entry: row.entry,
      update: toBytes(row.data),
      reason: row.reason,
      quarantinedAt: row.quarantined_at,
    }))
  }

  dropQuarantined(id: number): boolean {
    return this.statements.dropQuarantined.run(id).changes > 0
  }

  /**
   * Append for several documents in one transaction and one fsync: all or none, except that an
   * append whose fence or claims fail is left out (and answered why) without failing the others.
   * Both are checked inside the write transaction, so no other writer can come between check and write.
   */
  appendBatch(batch: readonly PreparedAppend[]): AppendResult[] {
    try {
      return this.db
        .transaction(() =>
          batch.map(({ docId, updates, summary, fence, claims = [], sealed = [] }): AppendResult => {
            const fenced = fence && fenceProblem(docId, fence, leaseState(this.leaseOf(docId), Date.now()))
            if (fenced) return { refused: 'fenced', reason: fenced }
            const claimed = claimProblem(
              docId,
              claims,
              (key) => this.statements.claimHolder.get(docId, key)?.holder,
            )
            if (claimed) return { refused: 'claimed', reason: claimed }
            for (const { key, holder } of sortedClaims(claims))
              this.statements.insertClaim.run(docId, key, holder)
            for (const record of sealed) this.statements.insertHistory.run(docId, record.seq, record.json)
            return { size: this.appendOne(docId, updates, summary) }
          }),
        )
        .immediate()
    } catch (error) {
      // Rolled back as a whole: what is cached for these documents may be ahead of the disk.
      for (const { docId } of batch) {
        this.logSizes.delete(docId)
        this.storedMembers.delete(docId)
      }
      throw error
    }
  }

  private appendOne(docId: string, updates: readonly Uint8Array[], summary?: PreparedSummary): LogSize {
    this.statements.ensureDocument.run(docId)
    let entry = this.statements.entryMark.get(docId)!.mark
    // The log's size is counted once per document, then kept here: a COUNT/SUM over the log on
    // every commit read every stored update again.
    const size = this.logSizes.get(docId) ?? this.countLog(docId)
    for (const update of updates) {
      this.statements.insertUpdate.run(docId, ++entry, update)
      size.entries++
      size.bytes += update.byteLength
    }
    this.logSizes.set(docId, size)
    this.statements.setEntryMark.run(entry, docId)
    if (summary) {
      this.statements.setSummary.run(summary.json, summary.updatedAt, docId)
      // Membership rarely changes; rewriting its rows on every commit did.
      const members = [...summary.memberIds].sort().join('\n')
      if (this.storedMembers.get(docId) !== members) {
        this.statements.deleteMembers.run(docId)
        for (const userId of summary.memberIds) this.statements.insertMember.run(userId, docId)
        this.storedMembers.set(docId, members)
      }
    }
    return { entries: size.entries, bytes: size.bytes, lastEntry: entry }
  }

  private countLog(docId: string): { entries: number; bytes: number } {
    const size = this.statements.logSize.get(docId)!
    return { entries: size.entries, bytes: size.bytes ?? 0 }
  }

  compact(docId: string, snapshot: Uint8Array, throughEntry: number): void {
    const write = this.db.transaction(() => {
      if (!this.statements.document.get(docId)) throw new Error(`no document ${docId}`)
      this.statements.compactSnapshot.run({ snapshot, through: throughEntry, id: docId })
      this.statements.deleteLog.run(docId, throughEntry)
    })
    write.immediate()
    this.logSizes.delete(docId)
  }

  history(docId: string, beforeSeq: number, limit: number): HistoryRecord[] {
    return this.statements.history
      .all(docId, beforeSeq, Math.min(limit, MAX_HISTORY_PAGE))
      .map((row) => JSON.parse(row.record) as HistoryRecord)
      .reverse()
  }

  redactHistory(docId: string, ids: readonly string[]): number {
    const redact = this.db.transaction(() => {
      let changed = 0
      for (const record of this.sealedMessages(docId, ids)) {
        if (record.deleted) continue
        this.statements.rewriteHistory.run(JSON.stringify(redactedRecord(record)), docId, record.seq)
        changed++
      }
      return changed
    })
    return redact()
  }

  sealedMessages(docId: string, ids: readonly string[]): HistoryRecord[] {
    return this.statements.sealedMessages
      .all(docId, JSON.stringify(ids.slice(0, MAX_HISTORY_PAGE)))
      .map((row) => JSON.parse(row.record) as HistoryRecord)
  }

  conversationIds(): string[] {
    return this.statements.ids.all().map((row) => row.id)
  }

  recordAnnouncement(record: AnnouncementRecord): void {
    this.statements.insertAnnouncement.run(JSON.stringify(record))
  }

  recentAnnouncements(limit: number): AnnouncementRecord[] {
    return this.statements.recentAnnouncements
      .all(Math.min(limit, MAX_ANNOUNCEMENTS_PAGE))
      .map((row) => JSON.parse(row.record) as AnnouncementRecord)
  }

  listConversations(userId: string): ConversationSummary[] {
    return this.statements.list.all(userId).map((row) => JSON.parse(row.summary) as ConversationSummary)
  }

  acquireLease(docId: string, nodeId: string, ttlMs: number): Lease | undefined {
    return this.db
      .transaction(() => {
        const lease = grantLease(docId, this.leaseOf(docId), nodeId, ttlMs, Date.now())
        if (lease) this.statements.putLease.run(docId, nodeId, lease.epoch, lease.expiresAt)
        return lease
      })
      .immediate()
  }

  renewLease(docId: string, nodeId: string, epoch: number, ttlMs: number): boolean {
    return this.db
      .transaction(() => {
        const now = Date.now()
        if (!holds(this.leaseOf(docId), nodeId, epoch, now)) return false
        this.statements.setLeaseExpiry.run(now + ttlMs, docId)
        return true
      })
      .immediate()
  }

  releaseLease(docId: string, nodeId: string, epoch: number): void {
    this.db
      .transaction(() => {
        const now = Date.now()
        if (holds(this.leaseOf(docId), nodeId, epoch, now)) this.statements.setLeaseExpiry.run(now, docId)
      })
      .immediate()
  }

  private leaseOf(docId: string): Lease | undefined {
    const row = this.statements.lease.get(docId)
    return row && { docId, nodeId: row.node_id, epoch: row.epoch, expiresAt: row.expires_at }
  }

  close(): void {
    if (this.db.open) this.db.close()
  }
}

export interface AppendRequest {
  docId: string
  updates: readonly Uint8Array[]
  summary: ConversationSummary | undefined
  fence?: Fence | undefined
  claims?: readonly Claim[] | undefined
  sealed?: readonly HistoryRecord[] | undefined
}

/**
 * An append as the log writes it: the summary and sealed records already serialised (on the
 * server's thread, see `sqlite-append-codec.ts`), with what the log indexes beside them.
 */
export interface PreparedAppend {
  docId: string
  updates: readonly Uint8Array[]
  summary: PreparedSummary | undefined
  fence?: Fence | undefined
  claims?: readonly Claim[] | undefined
  sealed?: readonly { seq: number; json: string }[] | undefined
}

export interface PreparedSummary {
  json: string
  updatedAt: number
  memberIds: readonly string[]
}

/** One append of a batch: its log size, or why its fence or claims refused it (nothing of it written). */
export type AppendResult =
  | { size: LogSize; refused?: undefined }
  | { refused: 'fenced' | 'claimed'; reason: string; size?: undefined }

const toBytes = (buffer: Buffer): Uint8Array =>
  new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength).slice()

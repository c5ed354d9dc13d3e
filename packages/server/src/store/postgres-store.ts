import pg from 'pg'
import { claimProblem, sortedClaims } from './claim-rules.js'
import { GroupCommit, type PendingRequest } from './group-commit.js'
import { fenceProblem } from './lease-rules.js'
import {
  type AnnouncementRecord,
  type AppendGuard,
  type Claim,
  ClaimConflictError,
  type ConversationSummary,
  type Fence,
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

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database?…` (libpq's URL form, as `pg` reads it). */
  connectionString: string
  /** Connections in the pool (`pg`'s `max`). */
  poolSize?: number
  /** PostgreSQL's `statement_timeout` for every statement, in ms (0: none). */
  statementTimeoutMs?: number
  /**
   * How long opening a connection may take, in ms. A refused connection fails at once anyway;
   * this bounds an unreachable host, so `/readyz` says so within seconds, not minutes.
   */
  connectionTimeoutMs?: number
  /**
   * PostgreSQL's `idle_in_transaction_session_timeout`, in ms. A node paused (SIGSTOP, a long GC)
   * in the middle of a stamp commit holds its lease row locked, and a takeover waits for that
   * lock: ending such a session sooner than a lease lasts means the takeover waits for the lease
   * alone. Keep it below the lease length.
   */
  idleInTransactionTimeoutMs?: number
}

export const DEFAULT_POSTGRES_OPTIONS = {
  poolSize: 10,
  statementTimeoutMs: 10_000,
  connectionTimeoutMs: 5_000,
  idleInTransactionTimeoutMs: 2_000,
} satisfies Omit<PostgresStoreOptions, 'connectionString'>

/**
 * The schema, one migration per version (`schema_version` records which ran). Never edit a
 * migration that has shipped: add the next one.
 */
const MIGRATIONS: readonly string[] = [
  // Version 1: everything.
  `
  CREATE TABLE documents (
    id text PRIMARY KEY,
    snapshot bytea,
    -- The highest entry ever given out: numbers are never reused, even once compaction emptied
    -- the log. Appends number their updates under this row's lock, so in commit order.
    entry_mark bigint NOT NULL DEFAULT 0,
    -- The highest entry the snapshot folded in: loadSince sends the snapshot to whoever lacks one.
    snapshot_through bigint NOT NULL DEFAULT 0,
    -- The log since the snapshot, kept here: a node's own count would miss the other nodes' appends.
    log_entries bigint NOT NULL DEFAULT 0,
    log_bytes bigint NOT NULL DEFAULT 0,
    summary jsonb,
    updated_at bigint NOT NULL DEFAULT 0
  );
  CREATE TABLE updates (
    doc_id text NOT NULL,
    entry bigint NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (doc_id, entry)
  );
  -- Who is in which conversation, for listing without reading summaries of others.
  CREATE TABLE members (
    user_id text NOT NULL,
    doc_id text NOT NULL,
    PRIMARY KEY (user_id, doc_id)
  );
  CREATE INDEX members_by_doc ON members (doc_id);
  -- Stored updates that could not be loaded, kept aside for an operator (entry 0: the snapshot).
  CREATE TABLE quarantine (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc_id text NOT NULL,
    entry bigint NOT NULL,
    data bytea NOT NULL,
    reason text NOT NULL,
    quarantined_at timestamptz NOT NULL DEFAULT clock_timestamp()
  );
  CREATE INDEX quarantine_by_doc ON quarantine (doc_id, id);
  -- The sequencer lease of each conversation (DESIGN section 10): the epoch fences stamp commits.
  CREATE TABLE leases (
    doc_id text PRIMARY KEY,
    node_id text NOT NULL,
    epoch bigint NOT NULL,
    expires_at timestamptz NOT NULL
  );
  `,
  // 2: ids taken for good (message ids, Yjs client ids) and who holds them: see Store.append.
  `
  CREATE TABLE claims (
    doc_id text NOT NULL,
    key text NOT NULL,
    holder text NOT NULL,
    PRIMARY KEY (doc_id, key)
  );
  `,
  // 3: sealed messages (DESIGN section 12), immutable once written: see Store.history.
  `
  CREATE TABLE history (
    doc_id text NOT NULL,
    seq bigint NOT NULL,
    record jsonb NOT NULL,
    PRIMARY KEY (doc_id, seq)
  );
  `,
  // 4: sealed messages by id, for the write rules (an id stays taken once sealed).
  `
  CREATE INDEX history_by_message ON history (doc_id, (record->>'id'));
  `,
  // 5: what admins announced (issue 16), in the order recorded: see Store.recordAnnouncement.
  `
  CREATE TABLE announcements (
    position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    record jsonb NOT NULL
  );
  `,
]

/** The schema version this code reads and writes. */
export const POSTGRES_SCHEMA_VERSION = MIGRATIONS.length

/** int8 (counts, entries, epochs, ids) as numbers: they stay far below 2^53. */
const INT8_OID = 20
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary'
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format as 'text')) as pg.CustomTypesConfig['getTypeParser'],
}

/** Updates per INSERT: PostgreSQL takes at most 65535 parameters per statement. */
const UPDATES_PER_INSERT = 1000

/**
 * The store for several nodes (DESIGN section 10): PostgreSQL is the truth they share. Every
 * lease is judged by PostgreSQL's clock (`clock_timestamp()`, not `now()`, which stands still
 * for a whole transaction, including the time it waited for a lock).
 *
 * Group commit, as the SQLite adapter: appends arriving while a transaction runs share the next
 * one. Within it documents are locked in id order, so two nodes' transactions never wait on each
 * other in a cycle; a fenced append its lease refuses is left out and rejects alone.
 */
export class PostgresStore implements Store {
  private readonly pool: pg.Pool
  private readonly appends = new GroupCommit<AppendRequest, LogSize>((batch) => this.commit(batch))
  private closed: Promise<void> | undefined

  /** Connect, create or migrate the schema, and return the store; rejects when that fails. */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const store = new PostgresStore(options)
    try {
      await store.migrate()
    } catch (error) {
      await store.pool.end().catch(() => undefined)
      throw error
    }
    return store
  }

  private constructor(options: PostgresStoreOptions) {
    const settings = { ...DEFAULT_POSTGRES_OPTIONS, ...definedOnly(options) }
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      max: settings.poolSize,
      connectionTimeoutMillis: settings.connectionTimeoutMs,
      statement_timeout: settings.statementTimeoutMs,
      idle_in_transaction_session_timeout: settings.idleInTransactionTimeoutMs,
      // The statement timeout is PostgreSQL's: it cannot end a wait on a host that is gone.
      ...(settings.statementTimeoutMs > 0 && {
        query_timeout: settings.statementTimeoutMs + settings.connectionTimeoutMs,
      }),
      keepAlive: true,
      application_name: 'ticks-server',
      types,
    })
    // An idle connection the server dropped (a restart, a failover): the pool discards it and the
    // next query opens another, whose failure reaches its caller. Unhandled, it would end the process.
    this.pool.on('error', () => undefined)
  }

  async load(docId: string): Promise<StoredEntry[] | undefined> {
    return this.read(docId, Number.MIN_SAFE_INTEGER)
  }

  async loadSince(docId: string, afterEntry: number): Promise<StoredEntry[] | undefined> {
    return this.read(docId, afterEntry)
  }

  append(
    docId: string,
    updates: readonly Uint8Array[],
    summary?: ConversationSummary,
    guard: AppendGuard = {},
  ): Promise<LogSize> {
    if (this.closed) return Promise.reject(new Error('the store is closed'))
    return this.appends.add({
      docId,
      updates,
      summary,
      fence: guard.fence,
      claims: guard.claims ?? [],
      sealed: guard.sealed ?? [],
    })
  }

  async history(docId: string, beforeSeq: number, limit: number): Promise<HistoryRecord[]> {
    const { rows } = await this.pool.query<{ record: HistoryRecord }>(
      'SELECT record FROM history WHERE doc_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3',
      [docId, beforeSeq, Math.min(limit, MAX_HISTORY_PAGE)],
    )
    return rows.map((row) => row.record).reverse()
  }

  async recordAnnouncement(record: AnnouncementRecord): Promise<void> {
    await this.pool.query('INSERT INTO announcements (record) VALUES ($1)', [JSON.stringify(record)])
  }

  async recentAnnouncements(limit: number): Promise<AnnouncementRecord[]> {
    const { rows } = await this.pool.query<{ record: AnnouncementRecord }>(
      'SELECT record FROM announcements ORDER BY position DESC LIMIT $1',
      [Math.min(limit, MAX_ANNOUNCEMENTS_PAGE)],
    )
    return rows.map((row) => row.record)
  }

  async redactHistory(docId: string, ids: readonly string[]): Promise<number> {
    return this.transaction(async (client) => {
      const { rows } = await client.query<{ seq: string; record: HistoryRecord }>(
        "SELECT seq, record FROM history WHERE doc_id = $1 AND record->>'id' = ANY($2::text[]) FOR UPDATE",
        [docId, ids.slice(0, MAX_HISTORY_PAGE)],
      )
      let changed = 0
      for (const { seq, record } of rows) {
        if (record.deleted) continue
        await client.query('UPDATE history SET record = $1 WHERE doc_id = $2 AND seq = $3', [
          redactedRecord(record),
          docId,
          seq,
        ])
        changed++
      }
      return changed
    })
  }

  async sealedMessages(docId: string, ids: readonly string[]): Promise<HistoryRecord[]> {
    const { rows } = await this.pool.query<{ record: HistoryRecord }>(
      "SELECT record FROM history WHERE doc_id = $1 AND record->>'id' = ANY($2::text[])",
      [docId, ids.slice(0, MAX_HISTORY_PAGE)],
    )
    return rows.map((row) => row.record)
  }

  async compact(docId: string, snapshot: Uint8Array, throughEntry: number): Promise<void> {
    // One statement: the log shrinks and the snapshot lands together, and the counters follow
    // exactly what this statement deleted (a concurrent append waits for the document row).
    const { rowCount } = await this.pool.query(
      `WITH folded AS (
         DELETE FROM updates WHERE doc_id = $1 AND entry <= $3 RETURNING octet_length(data) AS bytes
       )
       UPDATE documents SET
         snapshot = CASE WHEN snapshot_through <= $3 THEN $2 ELSE snapshot END,
         snapshot_through = greatest(snapshot_through, $3),
         log_entries = log_entries - (SELECT count(*) FROM folded),
         log_bytes = log_bytes - (SELECT coalesce(sum(bytes), 0) FROM folded)
       WHERE id = $1`,
      [docId, toBuffer(snapshot), throughEntry],
    )
    if (rowCount === 0) throw new Error(`no document ${docId}`)
  }

  async quarantine(docId: string, entries: readonly { entry: number; reason: string }[]): Promise<void> {
    await this.transaction(async (client) => {
      const { rowCount } = await client.query('SELECT 1 FROM documents WHERE id = $1 FOR UPDATE', [docId])
      if (rowCount === 0) return
      for (const { entry, reason } of entries) {
        if (entry === SNAPSHOT_ENTRY) {
          await client.query(
            `INSERT INTO quarantine (doc_id, entry, data, reason)
             SELECT id, 0, snapshot, $2 FROM documents WHERE id = $1 AND snapshot IS NOT NULL`,
            [docId, reason],
          )
          await client.query('UPDATE documents SET snapshot = NULL WHERE id = $1', [docId])
        } else {
          await client.query(
            `WITH moved AS (DELETE FROM updates WHERE doc_id = $1 AND entry = $2 RETURNING data)
             INSERT INTO quarantine (doc_id, entry, data, reason) SELECT $1, $2, data, $3 FROM moved`,
            [docId, entry, reason],
          )
        }
      }
      await client.query(
        `UPDATE documents SET log_entries = size.entries, log_bytes = size.bytes
         FROM (SELECT count(*) AS entries, coalesce(sum(octet_length(data)), 0) AS bytes
               FROM updates WHERE doc_id = $1) AS size
         WHERE id = $1`,
        [docId],
      )
    })
  }

  async listQuarantined(docId?: string): Promise<QuarantinedEntry[]> {
    const { rows } = await this.pool.query<{
      id: number
      doc_id: string
      entry: number
      data: Buffer
      reason: string
      at: number
    }>(
      `SELECT id, doc_id, entry, data, reason,
              floor(extract(epoch FROM quarantined_at) * 1000)::float8 AS at
       FROM quarantine WHERE $1::text IS NULL OR doc_id = $1 ORDER BY id`,
      [docId ?? null],
    )
    return rows.map((row) => ({
      id: row.id,
      docId: row.doc_id,
      entry: row.entry,
      update: toBytes(row.data),
      reason: row.reason,
      quarantinedAt: row.at,
    }))
  }

  async dropQuarantined(id: number): Promise<boolean> {
    if (!Number.isSafeInteger(id)) return false
    const { rowCount } = await this.pool.query('DELETE FROM quarantine WHERE id = $1', [id])
    return (rowCount ?? 0) > 0
  }

  async conversationIds(): Promise<string[]> {
    const { rows } = await this.pool.query<{ id: string }>('SELECT id FROM documents ORDER BY id COLLATE "C"')
    return rows.map((row) => row.id)
  }

  async listConversations(userId: string): Promise<ConversationSummary[]> {
    const { rows } = await this.pool.query<{ summary: ConversationSummary }>(
      `SELECT d.summary FROM members m JOIN documents d ON d.id = m.doc_id
       WHERE m.user_id = $1 AND d.summary IS NOT NULL
       ORDER BY d.updated_at DESC, d.id COLLATE "C"`,
      [userId],
    )
    return rows.map((row) => row.summary)
  }

  async acquireLease(docId: string, nodeId: string, ttlMs: number): Promise<Lease | undefined> {
    // ON CONFLICT locks the row before its WHERE is judged, so a takeover waits for a fenced
    // commit in progress and then judges expiry by the clock of that moment.
    const { rows } = await this.pool.query<LeaseRow>(
      `INSERT INTO leases AS l (doc_id, node_id, epoch, expires_at)
       VALUES ($1, $2, 1, clock_timestamp() + $3 * interval '1 millisecond')
       ON CONFLICT (doc_id) DO UPDATE SET
         node_id = excluded.node_id,
         epoch = CASE WHEN l.node_id = excluded.node_id AND l.expires_at > clock_timestamp()
                      THEN l.epoch ELSE l.epoch + 1 END,
         expires_at = clock_timestamp() + $3 * interval '1 millisecond'
       WHERE l.expires_at <= clock_timestamp() OR l.node_id = excluded.node_id
       RETURNING node_id, epoch, ${EXPIRES_AT_MS}`,
      [docId, nodeId, ttlMs],
    )
    const row = rows[0]
    return row && { docId, nodeId: row.node_id, epoch: row.epoch, expiresAt: row.expires_at_ms }
  }

  async renewLease(docId: string, nodeId: string, epoch: number, ttlMs: number): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE leases SET expires_at = clock_timestamp() + $4 * interval '1 millisecond'
       WHERE doc_id = $1 AND node_id = $2 AND epoch = $3 AND expires_at > clock_timestamp()`,
      [docId, nodeId, epoch, ttlMs],
    )
    return (rowCount ?? 0) > 0
  }

  async releaseLease(docId: string, nodeId: string, epoch: number): Promise<void> {
    await this.pool.query(
      `UPDATE leases SET expires_at = clock_timestamp()
       WHERE doc_id = $1 AND node_id = $2 AND epoch = $3 AND expires_at > clock_timestamp()`,
      [docId, nodeId, epoch],
    )
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      await this.appends.drain()
      await this.pool.end()
    })()
    return this.closed
  }

  /**
   * Create the schema, or bring an older one up to `POSTGRES_SCHEMA_VERSION`. Nodes starting
   * together take turns (an advisory lock), so exactly one of them migrates.
   */
  private async migrate(): Promise<void> {
    await this.transaction(async (client) => {
      await client.query(`SELECT pg_advisory_xact_lock(hashtext('ticks-server schema'))`)
      await client.query(
        `CREATE TABLE IF NOT EXISTS schema_version (
           version integer PRIMARY KEY,
           migrated_at timestamptz NOT NULL DEFAULT clock_timestamp()
         )`,
      )
      const { rows } = await client.query<{ version: number | null }>(
        'SELECT max(version) AS version FROM schema_version',
      )
      const current = rows[0]?.version ?? 0
      if (current > POSTGRES_SCHEMA_VERSION) {
        throw new Error(
          `the database schema is version ${current}, newer than this ticks-server knows (${POSTGRES_SCHEMA_VERSION}): upgrade ticks-server`,
        )
      }
      for (let version = current + 1; version <= POSTGRES_SCHEMA_VERSION; version++) {
        await client.query(MIGRATIONS[version - 1]!)
        await client.query('INSERT INTO schema_version (version) VALUES ($1)', [version])
      }
    })
  }

  /** The snapshot (when it folded in an entry after `afterEntry`) and the log after it, in one read. */
  private async read(docId: string, afterEntry: number): Promise<StoredEntry[] | undefined> {
    // One statement sees one state: a compaction or append in between cannot split the answer.
    const { rows } = await this.pool.query<{
      entry: number | null
      data: Buffer | null
      through: number | null
    }>(
      `SELECT NULL::bigint AS entry, snapshot AS data, snapshot_through AS through
       FROM documents WHERE id = $1
       UNION ALL
       SELECT entry, data, NULL FROM updates WHERE doc_id = $1 AND entry > $2
       ORDER BY entry NULLS FIRST`,
      [docId, afterEntry],
    )
    const document = rows[0]
    if (!document || document.entry !== null) return undefined
    const entries: StoredEntry[] = []
    if (document.data && document.through! > afterEntry) {
      entries.push({ entry: SNAPSHOT_ENTRY, update: toBytes(document.data) })
    }
    for (const row of rows.slice(1)) entries.push({ entry: row.entry!, update: toBytes(row.data!) })
    return entries
  }

  private async commit(batch: readonly PendingRequest<AppendRequest, LogSize>[]): Promise<void> {
    // Lock order: by document id, the same on every node (deadlock freedom); one document's
    // appends keep their arrival order, so their entries do too.
    const order = batch
      .map((_, index) => index)
      .sort((a, b) => compareIds(batch[a]!.request.docId, batch[b]!.request.docId) || a - b)
    let results: (LogSize | FencedError | ClaimConflictError)[]
    try {
      results = await this.transaction(async (client) => {
        const outcome: (LogSize | FencedError | ClaimConflictError)[] = new Array(batch.length)
        for (const index of order) outcome[index] = await appendOne(client, batch[index]!.request)
        return outcome
      })
    } catch (error) {
      for (const { reject } of batch) reject(error)
      return
    }
    for (const [index, { resolve, reject }] of batch.entries()) {
      const result = results[index]!
      if (result instanceof FencedError || result instanceof ClaimConflictError) reject(result)
      else resolve(result)
    }
  }

  private async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect()
    // A checked-out client whose connection drops (PostgreSQL restarted) emits 'error' besides
    // failing its query; the pool listens only while the client is idle, and an unheard 'error'
    // would end the process. The failed query is what reaches the caller.
    const onError = () => undefined
    client.on('error', onError)
    try {
      await client.query('BEGIN')
      const result = await work(client)
      await client.query('COMMIT')
      client.off('error', onError)
      client.release()
      return result
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined)
      client.off('error', onError)
      // A connection that failed mid-transaction may be broken: never hand it out again.
      client.release(error instanceof Error ? error : true)
      throw error
    }
  }
}

interface AppendRequest {
  docId: string
  updates: readonly Uint8Array[]
  summary: ConversationSummary | undefined
  fence: Fence | undefined
  claims: readonly Claim[]
  sealed: readonly HistoryRecord[]
}

interface LeaseRow {
  node_id: string
  epoch: number
  expires_at_ms: number
}

const EXPIRES_AT_MS = `floor(extract(epoch FROM expires_at) * 1000)::float8 AS expires_at_ms`

/** One append inside a batch's transaction: its log size, or why it is refused (nothing written). */
async function appendOne(
  client: pg.PoolClient,
  request: AppendRequest,
): Promise<LogSize | FencedError | ClaimConflictError> {
  const { docId, updates, summary, fence, claims, sealed } = request
  if (fence) {
    // Locked until the batch commits: a takeover (acquireLease) waits for this commit, so no
    // stamp of this epoch can land after the next epoch began.
    const { rows } = await client.query<{ node_id: string; epoch: number; live: boolean }>(
      `SELECT node_id, epoch, expires_at > clock_timestamp() AS live FROM leases WHERE doc_id = $1 FOR UPDATE`,
      [docId],
    )
    const lease = rows[0]
    const problem = fenceProblem(
      docId,
      fence,
      lease && { nodeId: lease.node_id, epoch: lease.epoch, live: lease.live },
    )
    if (problem) return new FencedError(problem)
  }
  if (claims.length > 0) {
    const conflict = await takeClaims(client, docId, claims)
    if (conflict) return new ClaimConflictError(conflict)
  }
  let bytes = 0
  for (const update of updates) bytes += update.byteLength
  // Numbering under the document row's lock: a concurrent append (another node) waits here for
  // this commit and numbers after it, so entries follow commit order with no gap.
  const { rows } = await client.query<{ entry_mark: number; log_entries: number; log_bytes: number }>(
    `INSERT INTO documents AS d (id, entry_mark, log_entries, log_bytes, summary, updated_at)
     VALUES ($1, $2, $2, $3, $4::jsonb, coalesce($5::bigint, 0))
     ON CONFLICT (id) DO UPDATE SET
       entry_mark = d.entry_mark + excluded.entry_mark,
       log_entries = d.log_entries + excluded.log_entries,
       log_bytes = d.log_bytes + excluded.log_bytes,
       summary = coalesce($4::jsonb, d.summary),
       updated_at = CASE WHEN $4::jsonb IS NULL THEN d.updated_at ELSE $5::bigint END
     RETURNING entry_mark, log_entries, log_bytes`,
    [
      docId,
      updates.length,
      bytes,
      summary ? JSON.stringify(summary) : null,
      summary ? Math.round(summary.updatedAt) : null,
    ],
  )
  const size = rows[0]!
  const firstEntry = size.entry_mark - updates.length + 1
  for (let start = 0; start < updates.length; start += UPDATES_PER_INSERT) {
    const chunk = updates.slice(start, start + UPDATES_PER_INSERT)
    const values = chunk.map((_, i) => `($1, $2::bigint + ${i}, $${i + 3})`).join(', ')
    await client.query(`INSERT INTO updates (doc_id, entry, data) VALUES ${values}`, [
      docId,
      firstEntry + start,
      ...chunk.map(toBuffer),
    ])
  }
  if (sealed.length > 0) {
    await client.query(
      `INSERT INTO history (doc_id, seq, record)
       SELECT $1, (r->>'seq')::bigint, r FROM jsonb_array_elements($2::jsonb) AS r
       ON CONFLICT DO NOTHING`,
      [docId, JSON.stringify(sealed)],
    )
  }
  if (summary) {
    // Membership follows the latest summary. Always written: a cache of what this node wrote last
    // would miss what other nodes wrote since.
    await client.query(
      `WITH gone AS (DELETE FROM members WHERE doc_id = $1 AND NOT (user_id = ANY($2::text[])))
       INSERT INTO members (user_id, doc_id) SELECT user_id, $1 FROM unnest($2::text[]) AS user_id
       ON CONFLICT DO NOTHING`,
      [docId, Object.keys(summary.members)],
    )
  }
  return { entries: size.log_entries, bytes: size.log_bytes, lastEntry: size.entry_mark }
}

/**
 * Take `claims` inside the append's transaction, or say why not (then nothing of them stays).
 * Inserting first makes a concurrent append of the same key (another node) wait for this
 * transaction and then see its holder: the unique key decides, never timing. Keys go in one order
 * everywhere, so two such appends never wait on each other in a cycle.
 */
async function takeClaims(
  client: pg.PoolClient,
  docId: string,
  claims: readonly Claim[],
): Promise<string | undefined> {
  const distinct = sortedClaims(claims)
  const inserted = await client.query<{ key: string }>(
    `INSERT INTO claims (doc_id, key, holder)
     SELECT $1, key, holder FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS c(key, holder, n)
     ORDER BY n
     ON CONFLICT (doc_id, key) DO NOTHING
     RETURNING key`,
    [docId, distinct.map((claim) => claim.key), distinct.map((claim) => claim.holder)],
  )
  const ours = new Set(inserted.rows.map((row) => row.key))
  const others = distinct.filter((claim) => !ours.has(claim.key)).map((claim) => claim.key)
  const held = new Map<string, string>()
  if (others.length > 0) {
    const { rows } = await client.query<{ key: string; holder: string }>(
      'SELECT key, holder FROM claims WHERE doc_id = $1 AND key = ANY($2::text[])',
      [docId, others],
    )
    for (const row of rows) held.set(row.key, row.holder)
  }
  const problem = claimProblem(docId, claims, (key) => held.get(key))
  if (problem && ours.size > 0) {
    await client.query('DELETE FROM claims WHERE doc_id = $1 AND key = ANY($2::text[])', [docId, [...ours]])
  }
  return problem
}

/** The same order on every node, whatever its locale. */
const compareIds = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

const toBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

/** A fresh copy: pg decodes small values into slices of a shared pool. */
const toBytes = (buffer: Buffer): Uint8Array => new Uint8Array(buffer)

function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>
}

import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import { GroupCommit, type PendingRequest } from './group-commit.js'
import { writeAppendBatch } from './sqlite-append-codec.js'
import { type AppendRequest, type AppendResult, SqliteLog } from './sqlite-log.js'
import {
  type AnnouncementRecord,
  type AppendGuard,
  ClaimConflictError,
  type ConversationSummary,
  FencedError,
  type HistoryRecord,
  type Lease,
  type LogSize,
  type QuarantinedEntry,
  type Store,
  type StoredEntry,
} from './store.js'

export type SqliteRequest = { id: number } & (
  | { op: 'load'; docId: string }
  | { op: 'loadSince'; docId: string; afterEntry: number }
  /** Appends encoded by `writeAppendBatch`. */
  | { op: 'append'; batch: Uint8Array }
  | { op: 'compact'; docId: string; snapshot: Uint8Array; throughEntry: number }
  | { op: 'quarantine'; docId: string; entries: readonly { entry: number; reason: string }[] }
  | { op: 'listQuarantined'; docId: string | undefined }
  | { op: 'dropQuarantined'; quarantineId: number }
  | { op: 'list'; userId: string }
  | { op: 'ids' }
  | { op: 'recordAnnouncement'; record: AnnouncementRecord }
  | { op: 'recentAnnouncements'; limit: number }
  | { op: 'history'; docId: string; beforeSeq: number; limit: number }
  | { op: 'sealedMessages'; docId: string; ids: readonly string[] }
  | { op: 'redactHistory'; docId: string; ids: readonly string[] }
  | { op: 'acquireLease'; docId: string; nodeId: string; ttlMs: number }
  | { op: 'renewLease'; docId: string; nodeId: string; epoch: number; ttlMs: number }
  | { op: 'releaseLease'; docId: string; nodeId: string; epoch: number }
  | { op: 'close' }
)

export type SqliteReply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; message: string; code: string | undefined }

type Operation<R> = R extends unknown ? Omit<R, 'id'> : never

/**
 * The embedded default store: SQLite (WAL, `synchronous=FULL`) on a worker thread. better-sqlite3
 * is synchronous, and on the server's own thread every commit held the event loop for its fsync
 * (20–40 % of the loop under the fan-out bench); here the loop keeps serving sockets meanwhile.
 *
 * Group commit: appends arriving while a transaction is on disk wait and then share the next one,
 * so the busier the server, the more updates each fsync carries. Every caller still resolves only
 * after its own transaction committed. A fenced append that its lease refuses is left out of the
 * shared transaction and rejects alone.
 *
 * One process's store: the worker keeps each document's log size and members in memory, which
 * assumes no other process writes the same file (several nodes share PostgreSQL, not SQLite).
 * Leases work here too, judged by this machine's clock, so one contract covers every adapter.
 */
export class SqliteStore implements Store {
  private readonly worker: Worker
  private readonly calls = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (error: Error) => void }
  >()
  private nextId = 1
  private readonly appends = new GroupCommit<AppendRequest, LogSize>((batch) => this.commit(batch))
  private failure: Error | undefined
  private closed: Promise<void> | undefined

  constructor(readonly file: string) {
    // Opened once here, synchronously, so a bad path or a corrupt file fails at startup, and the
    // schema exists before the worker starts.
    new SqliteLog(file).close()
    this.worker = startWorker(file)
    this.worker.on('message', (reply: SqliteReply) => {
      const call = this.calls.get(reply.id)
      if (!call) return
      this.calls.delete(reply.id)
      if (reply.ok) call.resolve(reply.value)
      else call.reject(Object.assign(new Error(reply.message), { code: reply.code }))
    })
    this.worker.on('error', (error) => this.fail(error))
    this.worker.on('exit', (code) => this.fail(new Error(`the SQLite worker exited (code ${code})`)))
  }

  load(docId: string): Promise<StoredEntry[] | undefined> {
    return this.call({ op: 'load', docId }) as Promise<StoredEntry[] | undefined>
  }

  loadSince(docId: string, afterEntry: number): Promise<StoredEntry[] | undefined> {
    return this.call({ op: 'loadSince', docId, afterEntry }) as Promise<StoredEntry[] | undefined>
  }

  async quarantine(docId: string, entries: readonly { entry: number; reason: string }[]): Promise<void> {
    await this.call({ op: 'quarantine', docId, entries })
  }

  listQuarantined(docId?: string): Promise<QuarantinedEntry[]> {
    return this.call({ op: 'listQuarantined', docId }) as Promise<QuarantinedEntry[]>
  }

  dropQuarantined(id: number): Promise<boolean> {
    return this.call({ op: 'dropQuarantined', quarantineId: id }) as Promise<boolean>
  }

  append(
    docId: string,
    updates: readonly Uint8Array[],
    summary?: ConversationSummary,
    guard: AppendGuard = {},
  ): Promise<LogSize> {
    const { fence, claims, sealed } = guard
    return this.appends.add({ docId, updates, summary, fence, claims, sealed })
  }

  history(docId: string, beforeSeq: number, limit: number): Promise<HistoryRecord[]> {
    return this.call({ op: 'history', docId, beforeSeq, limit }) as Promise<HistoryRecord[]>
  }

  redactHistory(docId: string, ids: readonly string[]): Promise<number> {
    return this.call({ op: 'redactHistory', docId, ids }) as Promise<number>
  }

  sealedMessages(docId: string, ids: readonly string[]): Promise<HistoryRecord[]> {
    return this.call({ op: 'sealedMessages', docId, ids }) as Promise<HistoryRecord[]>
  }

  async compact(docId: string, snapshot: Uint8Array, throughEntry: number): Promise<void> {
    await this.call({ op: 'compact', docId, snapshot, throughEntry })
  }

  conversationIds(): Promise<string[]> {
    return this.call({ op: 'ids' }) as Promise<string[]>
  }

  async recordAnnouncement(record: AnnouncementRecord): Promise<void> {
    await this.call({ op: 'recordAnnouncement', record })
  }

  recentAnnouncements(limit: number): Promise<AnnouncementRecord[]> {
    return this.call({ op: 'recentAnnouncements', limit }) as Promise<AnnouncementRecord[]>
  }

  listConversations(userId: string): Promise<ConversationSummary[]> {
    return this.call({ op: 'list', userId }) as Promise<ConversationSummary[]>
  }

  acquireLease(docId: string, nodeId: string, ttlMs: number): Promise<Lease | undefined> {
    return this.call({ op: 'acquireLease', docId, nodeId, ttlMs }) as Promise<Lease | undefined>
  }

  renewLease(docId: string, nodeId: string, epoch: number, ttlMs: number): Promise<boolean> {
    return this.call({ op: 'renewLease', docId, nodeId, epoch, ttlMs }) as Promise<boolean>
  }

  async releaseLease(docId: string, nodeId: string, epoch: number): Promise<void> {
    await this.call({ op: 'releaseLease', docId, nodeId, epoch })
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      await this.appends.drain()
      if (!this.failure) await this.call({ op: 'close' }).catch(() => undefined)
      this.failure ??= new Error('the store is closed')
      await this.worker.terminate()
    })()
    return this.closed
  }

  private async commit(batch: readonly PendingRequest<AppendRequest, LogSize>[]): Promise<void> {
    try {
      const encoded = writeAppendBatch(batch.map(({ request }) => request))
      const results = (await this.call({ op: 'append', batch: encoded }, [
        encoded.buffer as ArrayBuffer,
      ])) as AppendResult[]
      for (const [i, { resolve, reject }] of batch.entries()) {
        const result = results[i]!
        if (result.size) resolve(result.size)
        else if (result.refused === 'fenced') reject(new FencedError(result.reason))
        else reject(new ClaimConflictError(result.reason))
      }
    } catch (error) {
      for (const { reject } of batch) reject(error)
    }
  }

  private call(operation: Operation<SqliteRequest>, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure)
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject })
      this.worker.postMessage({ ...operation, id }, transfer)
    })
  }

  /** The worker is gone: nothing in flight can be known to be on disk. */
  private fail(error: Error): void {
    this.failure ??= error
    for (const call of this.calls.values()) call.reject(this.failure)
    this.calls.clear()
  }
}

/**
 * The built package runs `sqlite-worker.js` directly. Run from its TypeScript sources (the test
 * suites, the bench), the worker loads `sqlite-worker.ts` through tsx, as its parent did.
 */
function startWorker(file: string): Worker {
  const here = import.meta.url
  if (!here.endsWith('.ts')) return new Worker(new URL('./sqlite-worker.js', here), { workerData: { file } })
  // tsx's ESM entry (its CommonJS one fails to load its own ESM half from a worker).
  const tsxApi = pathToFileURL(
    createRequire(here)
      .resolve('tsx/esm/api')
      .replace(/\.cjs$/, '.mjs'),
  ).href
  const entry = new URL('./sqlite-worker.ts', here).href
  const source = `import(${JSON.stringify(tsxApi)}).then((tsx) => tsx.tsImport(${JSON.stringify(entry)}, ${JSON.stringify(here)}))`
  return new Worker(source, { eval: true, workerData: { file } })
}

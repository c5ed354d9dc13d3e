import { compactSealedEntries } from '@ticks/core'
import { fetchUpdates, IndexeddbPersistence } from 'y-indexeddb'
import type * as Y from 'yjs'
import { requestResult, transactionDone } from './idb-requests.js'

/**
 * Where a conversation's document is kept on this device, and how the client learns that a write
 * has reached it. One per open conversation.
 */
export interface LocalStore {
  readonly kind: 'indexeddb' | 'none'
  /**
   * Resolves once whatever was stored has been applied to the document, or once the store is
   * destroyed before that (y-indexeddb never reports a load it was destroyed during).
   */
  readonly whenLoaded: Promise<void>
  /** After `whenLoaded`: whether anything had been stored (y-indexeddb's `synced` cannot tell). */
  loadedFromDisk(): boolean
  /** Whether every change made to the document so far is committed to disk. */
  onDisk(): boolean
  /**
   * Resolves true once every change made so far is committed; false without persistence, or when
   * the store was destroyed before they all were (never left pending, never rejected by a close).
   */
  whenPersisted(): Promise<boolean>
  onDiskChange(listener: () => void): () => void
  /** Closes the database once the writes already made are committed (their outcome is kept). */
  destroy(): Promise<void>
}

/** Reloads append an entry each; past this many, the load rewrites the log as one snapshot. */
export const COMPACT_AFTER_ENTRIES = 16

export const memoryOnlyStore = (): LocalStore => ({
  kind: 'none',
  whenLoaded: Promise.resolve(),
  loadedFromDisk: () => false,
  onDisk: () => false,
  whenPersisted: async () => false,
  onDiskChange: () => () => {},
  destroy: async () => {},
})

const countEntries = (db: IDBDatabase) =>
  requestResult(db.transaction(['updates'], 'readonly').objectStore('updates').count())

/** The fields of y-indexeddb's persistence this wrapper relies on (stable across 9.x). */
interface PersistenceInternals {
  _db: Promise<IDBDatabase>
  /** The first key not yet read into the document: every entry below it is in the document. */
  _dbref: number
}

/**
 * y-indexeddb's `storeState`, storing the document as the server's snapshot does: sealed (or
 * discarded) message entries as garbage-collected ranges (core `compactSealedEntries`). A device
 * that held messages when they were sealed would otherwise keep ~35 bytes of each forever, since
 * `Y.encodeStateAsUpdate` writes a deleted map entry with its key (DESIGN section 12).
 */
async function storeCompactedState(persistence: IndexeddbPersistence): Promise<void> {
  const updates = await fetchUpdates(persistence)
  const { _dbref: readThrough } = persistence as unknown as PersistenceInternals
  // One transaction: the new snapshot is added before the entries it replaces are deleted.
  await requestResult(updates.add(compactSealedEntries(persistence.doc)))
  await requestResult(updates.delete(IDBKeyRange.upperBound(readThrough, true)))
}

export interface IndexedDbStoreOptions {
  /**
   * Open the database only once this settles: the teardown of an earlier instance of the same
   * conversation, so that this load reads everything that instance wrote, its last writes included.
   */
  after?: Promise<unknown>
}

/**
 * y-indexeddb with these gaps closed (the first three are those DESIGN section 8 lists):
 *
 * - *No durability signal* (#28). y-indexeddb adds every update in its own readwrite transaction,
 *   created synchronously in its `update` handler. IndexedDB runs readwrite transactions over the
 *   same store in creation order, so a marker transaction created after them completes only when
 *   they have committed. `whenPersisted()` and `onDisk()` are built on such markers (with
 *   `durability: 'strict'`, so the browser flushes rather than merely hands the data to the OS).
 * - *`synced` fires even when nothing was stored* (#35): `loadedFromDisk()` says which.
 * - *Growth on every construction* (#31): each load appends the pre-load state as a new entry and
 *   y-indexeddb compacts only past 500 entries; we compact as soon as a load finds more than
 *   `COMPACT_AFTER_ENTRIES`, so the log stays short however often the app is reloaded, and
 *   store sealed messages' entries as the server does (`storeCompactedState`).
 * - *Destroyed during its load, it never reports the load, and drops what the document held
 *   before it* (its pre-load state is written only by a load that finishes). `destroy()` lets the
 *   load finish and waits for the writes already made, then closes; `whenLoaded` settles at once.
 *
 * y-indexeddb (through lib0) uses the global `indexedDB` and `IDBKeyRange`; in Node, install
 * `fake-indexeddb/auto` first.
 */
export function indexedDbStore(name: string, doc: Y.Doc, { after }: IndexedDbStoreOptions = {}): LocalStore {
  const listeners = new Set<() => void>()
  let persistence: IndexeddbPersistence | undefined
  let changesMade = 0
  let changesOnDisk = 0
  let markerScheduled = false
  let hadStoredState = false
  /** `destroy()` was called: skip optional work, stop counting changes. */
  let stopping = false
  /** The database is (being) closed: no new transaction may be created. */
  let closed = false
  let destruction: Promise<void> | undefined
  let onStopping = () => {}
  const stopped = new Promise<void>((resolve) => {
    onStopping = resolve
  })

  const open = () => {
    persistence = new IndexeddbPersistence(name, doc)
    return persistence
  }
  // Without a predecessor still closing, the database opens at once.
  const opened: Promise<IndexeddbPersistence> = after ? after.then(open, open) : Promise.resolve(open())

  const loaded = opened.then(async (current) => {
    await current.whenSynced
    // y-indexeddb emits `synced` before it counts the entries, so count them ourselves. One entry
    // is the pre-load state it has just written; more means there was a stored document.
    const db = await (current as unknown as PersistenceInternals)._db
    if (stopping) return
    const entries = await countEntries(db)
    hadStoredState = entries > 1
    if (entries > COMPACT_AFTER_ENTRIES && !stopping) void storeCompactedState(current).catch(() => {})
  })
  const whenLoaded = Promise.race([loaded, stopped])

  /**
   * Resolves true once every transaction created on the updates store before this call has
   * committed, the load's write of the pre-load state included; false if the database was closed
   * (or the load abandoned) first.
   */
  const marker = async (): Promise<boolean> => {
    const current = await opened
    const db = await (current as unknown as PersistenceInternals)._db
    if (closed) return false
    const transaction = db.transaction(['updates'], 'readwrite', { durability: 'strict' })
    transaction.objectStore('updates').count()
    await transactionDone(transaction)
    // The load's transaction came first, so it has run: it wrote the pre-load state unless abandoned.
    return current.synced
  }

  const emit = () => {
    for (const listener of listeners) listener()
  }

  const onUpdate = (_update: Uint8Array, origin: unknown) => {
    if (origin === persistence) return
    changesMade++
    if (changesMade === changesOnDisk + 1) emit() // just left the on-disk state
    if (markerScheduled) return
    markerScheduled = true
    // One marker per burst of updates (a transaction each would be wasteful). Deferred, so
    // y-indexeddb's handler for this update has created its transaction first.
    queueMicrotask(() => {
      markerScheduled = false
      const covered = changesMade
      marker().then(
        (committed) => {
          if (!committed || covered <= changesOnDisk) return
          changesOnDisk = covered
          if (!stopping) emit()
        },
        () => {}, // a failed write leaves onDisk() false, which is the truth
      )
    })
  }
  doc.on('update', onUpdate)

  return {
    kind: 'indexeddb',
    whenLoaded,
    loadedFromDisk: () => hadStoredState,
    onDisk: () => changesOnDisk === changesMade,
    async whenPersisted() {
      await whenLoaded
      const covered = changesMade
      if (await marker()) return true
      // Closed first: destroy() waited for every write made before it, so the count is final.
      return changesOnDisk >= covered
    },
    onDiskChange(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    destroy() {
      destruction ??= (async () => {
        stopping = true
        onStopping()
        doc.off('update', onUpdate)
        listeners.clear()
        const covered = changesMade
        const committed = await marker().catch(() => false)
        if (committed && covered > changesOnDisk) changesOnDisk = covered
        closed = true
        await persistence?.destroy()
      })()
      return destruction
    },
  }
}

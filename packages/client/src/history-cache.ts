import type { HistoryMessage } from '@ticks/core'
import { requestResult, transactionDone } from './idb-requests.js'
import { addRange, type SeqRange } from './seq-ranges.js'

/**
 * Sealed history kept on this device, per conversation (DESIGN section 12). Sealed messages never
 * change, so a cached one is as good as the server's. `ranges` are the seq ranges whose every
 * sealed message is here (a page the server served, down to its lowest seq): a seq inside one
 * that has no message here has none at all (a message discarded after its stamp), so paging can
 * step over it without asking the server.
 */
export interface HistoryCache {
  /** The complete ranges, as of the last `put`. */
  ranges(): Promise<SeqRange[]>
  /** Up to `limit` cached messages with seq below `before`, highest seq first. */
  below(before: number, limit: number): Promise<HistoryMessage[]>
  /** Keep these messages, and mark `complete` as a range whose every message is among what is kept. */
  put(messages: readonly HistoryMessage[], complete?: SeqRange): Promise<void>
  close(): void
}

/** `persistence: 'none'`: kept by the client for as long as it lives, so a reopened chat pages from memory. */
export function memoryHistoryCache(): HistoryCache {
  const bySeq = new Map<number, HistoryMessage>()
  let complete: SeqRange[] = []
  return {
    ranges: async () => complete,
    async below(before, limit) {
      return [...bySeq.values()]
        .filter((message) => message.seq < before)
        .sort((a, b) => b.seq - a.seq)
        .slice(0, limit)
    },
    async put(messages, range) {
      for (const message of messages) bySeq.set(message.seq, message)
      if (range) complete = addRange(complete, range)
    },
    close() {},
  }
}

/** The name of a conversation's history database: scoped by user, like its document's. */
export const historyDatabaseName = (userId: string, conversationId: string): string =>
  `ticks-history:${userId}:${conversationId}`

const MESSAGES = 'messages'
const META = 'meta'
const RANGES_KEY = 'ranges'

/**
 * `persistence: 'indexeddb'`: a small database of its own beside the document's (y-indexeddb owns
 * that one's schema), with messages keyed by seq and the complete ranges in one record. Storage
 * errors only cost the cache: reads then find nothing and the pages come from the server.
 */
export function indexedDbHistoryCache(name: string): HistoryCache {
  const opening = new Promise<IDBDatabase>((resolve, reject) => {
    const open = indexedDB.open(name, 1)
    open.onupgradeneeded = () => {
      open.result.createObjectStore(MESSAGES, { keyPath: 'seq' })
      open.result.createObjectStore(META)
    }
    open.onsuccess = () => resolve(open.result)
    open.onerror = () => reject(open.error)
  })
  let closed = false
  const database = async (): Promise<IDBDatabase | undefined> => {
    const db = await opening.catch(() => undefined)
    return closed ? undefined : db
  }
  const readRanges = async (db: IDBDatabase) =>
    ((await requestResult(db.transaction(META).objectStore(META).get(RANGES_KEY))) as
      | SeqRange[]
      | undefined) ?? []

  return {
    async ranges() {
      const db = await database()
      return db ? readRanges(db).catch(() => []) : []
    },
    async below(before, limit) {
      const db = await database()
      if (!db) return []
      const found: HistoryMessage[] = []
      const cursor = db
        .transaction(MESSAGES)
        .objectStore(MESSAGES)
        .openCursor(IDBKeyRange.upperBound(before, true), 'prev')
      return new Promise((resolve) => {
        cursor.onsuccess = () => {
          const current = cursor.result
          if (!current || found.length >= limit) return resolve(found)
          found.push(current.value as HistoryMessage)
          current.continue()
        }
        cursor.onerror = () => resolve(found)
      })
    },
    async put(messages, range) {
      const db = await database()
      if (!db || (messages.length === 0 && !range)) return
      const transaction = db.transaction([MESSAGES, META], 'readwrite')
      const finished = transactionDone(transaction).catch(() => {})
      const store = transaction.objectStore(MESSAGES)
      for (const message of messages) store.put(message)
      if (range) {
        const meta = transaction.objectStore(META)
        // Read and written in one transaction: two tabs adding ranges cannot lose one.
        const current = ((await requestResult(meta.get(RANGES_KEY))) as SeqRange[] | undefined) ?? []
        meta.put(addRange(current, range), RANGES_KEY)
      }
      await finished
    },
    close() {
      closed = true
      void opening.then(
        (db) => db.close(),
        () => {},
      )
    },
  }
}

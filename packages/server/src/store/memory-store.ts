import {
  type ConversationSummary,
  type LogSize,
  type QuarantinedEntry,
  SNAPSHOT_ENTRY,
  type Store,
  type StoredEntry,
} from './store.js'

interface MemoryDocument {
  snapshot: Uint8Array | null
  log: { entry: number; update: Uint8Array }[]
  nextEntry: number
  summary: ConversationSummary | undefined
}

/** An in-process store for tests and `--store memory`: nothing survives the process. */
export class MemoryStore implements Store {
  private readonly documents = new Map<string, MemoryDocument>()
  private readonly quarantined: QuarantinedEntry[] = []
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
  ): Promise<LogSize> {
    this.assertOpen()
    let document = this.documents.get(docId)
    if (!document) {
      document = { snapshot: null, log: [], nextEntry: 1, summary: undefined }
      this.documents.set(docId, document)
    }
    // Copies: a caller reusing its buffer must not change what was stored.
    for (const update of updates) document.log.push({ entry: document.nextEntry++, update: update.slice() })
    if (summary) document.summary = structuredClone(summary)
    return sizeOf(document)
  }

  async compact(docId: string, snapshot: Uint8Array, throughEntry: number): Promise<void> {
    this.assertOpen()
    const document = this.documents.get(docId)
    if (!document) throw new Error(`no document ${docId}`)
    document.snapshot = snapshot.slice()
    document.log = document.log.filter(({ entry }) => entry > throughEntry)
  }

  async listConversations(userId: string): Promise<ConversationSummary[]> {
    this.assertOpen()
    const summaries: ConversationSummary[] = []
    for (const { summary } of this.documents.values()) {
      if (summary && Object.hasOwn(summary.members, userId)) summaries.push(structuredClone(summary))
    }
    return summaries.sort((a, b) => b.updatedAt - a.updatedAt || a.id.localeCompare(b.id))
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

import { documentProblem, updateProblem } from '@ticks/core'
import * as Y from 'yjs'
import type { Store, StoredEntry } from '../store/store.js'

/** Origin of the transactions that load stored updates: the room neither stores nor relays them. */
export const LOAD_ORIGIN = Symbol('ticks-load')

/** A stored entry set aside, and why. */
export interface Quarantined {
  entry: number
  reason: string
}

/**
 * Build a conversation's document from its stored entries, so that no stored entry can brick it
 * (issue 12). The common case applies everything at once. If that throws inside Yjs, or leaves a
 * document some stock client could not load (clocks past the bound, structs waiting on clocks
 * nobody has), every entry is checked and replayed one by one; those that do not decode, exceed the
 * clock bound, throw, or leave structs pending are set aside, and the document is built from the
 * rest. The caller quarantines them in the store before opening the room, so that a compaction
 * never folds their absence into a snapshot without a trace.
 *
 * A healthy log is in causal order (the room stores what it applied, in order), so an entry that
 * leaves structs pending depends on one that was set aside, or on nothing that exists.
 */
export function buildDocument(
  docId: string,
  entries: readonly StoredEntry[],
): { doc: Y.Doc; quarantined: Quarantined[] } {
  const whole = tryApply(docId, entries)
  if (whole.doc && !documentProblem(whole.doc)) return { doc: whole.doc, quarantined: [] }
  whole.doc?.destroy()

  const quarantined: Quarantined[] = []
  let healthy = entries.filter(({ entry, update }) => {
    const problem = updateProblem(update)
    if (problem) quarantined.push({ entry, reason: problem })
    return !problem
  })
  for (;;) {
    const doc = new Y.Doc({ guid: docId, gc: true })
    const culprit = replay(doc, healthy)
    if (!culprit) {
      const problem = documentProblem(doc)
      if (problem) throw new Error(`the document stays unusable without its bad entries: ${problem}`)
      return { doc, quarantined: quarantined.sort((a, b) => a.entry - b.entry) }
    }
    doc.destroy()
    quarantined.push(culprit)
    healthy = healthy.filter(({ entry }) => entry !== culprit.entry)
  }
}

/**
 * Load a conversation's document, and the last store entry it was built from (where catching up
 * from the store resumes); undefined when the store has no such conversation.
 */
export async function loadDocument(
  store: Store,
  docId: string,
  onQuarantined: (entry: Quarantined) => void,
): Promise<{ doc: Y.Doc; lastEntry: number } | undefined> {
  const entries = await store.load(docId)
  if (!entries) return undefined
  const lastEntry = entries.reduce((last, { entry }) => Math.max(last, entry), 0)
  const { doc, quarantined } = buildDocument(docId, entries)
  if (quarantined.length > 0) {
    try {
      await store.quarantine(docId, quarantined)
    } catch (error) {
      doc.destroy()
      throw error
    }
    for (const entry of quarantined) onQuarantined(entry)
  }
  return { doc, lastEntry }
}

function tryApply(docId: string, entries: readonly StoredEntry[]): { doc: Y.Doc | undefined } {
  const doc = new Y.Doc({ guid: docId, gc: true })
  try {
    doc.transact(() => {
      for (const { update } of entries) Y.applyUpdate(doc, update, LOAD_ORIGIN)
    }, LOAD_ORIGIN)
  } catch {
    doc.destroy()
    return { doc: undefined }
  }
  // Deletions of items nobody stored are dropped, as the room drops them on the way in.
  doc.store.pendingDs = null
  return { doc }
}

/** Apply entries one by one; the first that throws or leaves structs pending, if any. */
function replay(doc: Y.Doc, entries: readonly StoredEntry[]): Quarantined | undefined {
  for (const { entry, update } of entries) {
    try {
      Y.applyUpdate(doc, update, LOAD_ORIGIN)
    } catch (error) {
      return { entry, reason: `Yjs could not apply it: ${(error as Error).message}` }
    }
    doc.store.pendingDs = null
    if (doc.store.pendingStructs)
      return { entry, reason: 'its structs are left pending on clocks the document lacks' }
  }
  return undefined
}

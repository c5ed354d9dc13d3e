import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { type ConversationSummary, SNAPSHOT_ENTRY, type Store, type StoredEntry } from '../src/index.js'

/**
 * The executable contract of `Store` (STYLE.md): every adapter runs it against itself, and a new
 * adapter is done when it passes. `setup` returns a fresh, empty store; `reopen` (optional, for
 * durable adapters) closes it and opens the same data again.
 */
export function runStoreContract(
  name: string,
  setup: () => Promise<{ store: Store; reopen?: () => Promise<Store>; teardown?: () => Promise<void> }>,
): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store
    let reopen: (() => Promise<Store>) | undefined
    let teardown: (() => Promise<void>) | undefined

    beforeEach(async () => {
      ;({ store, reopen, teardown } = await setup())
    })
    afterEach(async () => {
      await store.close()
      await teardown?.()
    })

    const bytes = (...values: number[]) => new Uint8Array(values)
    /** The updates of a load, without entry numbers. */
    const updatesOf = (entries: StoredEntry[] | undefined) => entries?.map(({ update }) => update)
    const summary = (id: string, members: string[], updatedAt: number): ConversationSummary => ({
      id,
      title: `title ${id}`,
      members: Object.fromEntries(members.map((user) => [user, { role: 'member' as const, joinedAt: 1 }])),
      lastMessage: null,
      updatedAt,
    })

    it('knows no document it was never given', async () => {
      expect(await store.load('nope')).toBeUndefined()
    })

    it('returns appended updates in order, as copies', async () => {
      const first = bytes(1, 2, 3)
      await store.append('d', [first, bytes(4)])
      first[0] = 99
      await store.append('d', [bytes(5, 6)])
      const loaded = await store.load('d')
      expect(updatesOf(loaded)).toEqual([bytes(1, 2, 3), bytes(4), bytes(5, 6)])
      const entries = loaded!.map(({ entry }) => entry)
      expect(entries).toEqual([...entries].sort((a, b) => a - b))
      expect(new Set(entries).size).toBe(3)
      expect(entries.every((entry) => entry > SNAPSHOT_ENTRY)).toBe(true)
    })

    it('reports the log size and never reuses an entry position', async () => {
      const a = await store.append('d', [bytes(1, 2), bytes(3)])
      expect(a).toMatchObject({ entries: 2, bytes: 3 })
      await store.compact('d', bytes(9), a.lastEntry)
      const b = await store.append('d', [bytes(4)])
      expect(b.entries).toBe(1)
      expect(b.lastEntry).toBeGreaterThan(a.lastEntry)
    })

    it('compacts atomically: snapshot first, later entries kept', async () => {
      const doc = new Y.Doc()
      const updates: Uint8Array[] = []
      doc.on('update', (u: Uint8Array) => updates.push(u))
      doc.getMap('m').set('a', 1)
      doc.getMap('m').set('b', 2)
      const { lastEntry } = await store.append('d', updates.splice(0))
      const snapshot = Y.encodeStateAsUpdate(doc)
      doc.getMap('m').set('c', 3)
      await store.append('d', updates.splice(0))
      await store.compact('d', snapshot, lastEntry)
      const loaded = await store.load('d')
      expect(loaded).toHaveLength(2)
      expect(loaded![0]).toEqual({ entry: SNAPSHOT_ENTRY, update: snapshot })
      expect(loaded![1]!.entry).toBeGreaterThan(lastEntry)
      const copy = new Y.Doc()
      for (const { update } of loaded!) Y.applyUpdate(copy, update)
      expect(copy.getMap('m').toJSON()).toEqual({ a: 1, b: 2, c: 3 })
    })

    it('lists the conversations of a member, newest first', async () => {
      await store.append('c1', [bytes(1)], summary('c1', ['alice', 'bob'], 10))
      await store.append('c2', [bytes(1)], summary('c2', ['alice'], 20))
      await store.append('c3', [bytes(1)], summary('c3', ['carol'], 30))
      expect((await store.listConversations('alice')).map((s) => s.id)).toEqual(['c2', 'c1'])
      expect(await store.listConversations('bob')).toEqual([summary('c1', ['alice', 'bob'], 10)])
      // Membership follows the latest summary.
      await store.append('c1', [bytes(2)], summary('c1', ['alice'], 40))
      expect(await store.listConversations('bob')).toEqual([])
      expect(await store.listConversations('nobody')).toEqual([])
    })

    it('takes concurrent appends to several documents, each in order and each with its own size', async () => {
      // What a server under load does: many rooms commit at once (adapters may share a transaction).
      const [a1, b1, a2] = await Promise.all([
        store.append('a', [bytes(1)], summary('a', ['alice'], 1)),
        store.append('b', [bytes(2), bytes(3, 4)], summary('b', ['bob'], 2)),
        store.append('a', [bytes(5, 6, 7)], summary('a', ['alice', 'bob'], 3)),
      ])
      expect(a1).toMatchObject({ entries: 1, bytes: 1 })
      expect(b1).toMatchObject({ entries: 2, bytes: 3 })
      expect(a2).toMatchObject({ entries: 2, bytes: 4 })
      expect(a2.lastEntry).toBeGreaterThan(a1.lastEntry)
      expect(updatesOf(await store.load('a'))).toEqual([bytes(1), bytes(5, 6, 7)])
      expect(updatesOf(await store.load('b'))).toEqual([bytes(2), bytes(3, 4)])
      expect((await store.listConversations('bob')).map((s) => s.id).sort()).toEqual(['a', 'b'])
    })

    it('keeps documents apart', async () => {
      await store.append('a', [bytes(1)])
      await store.append('b', [bytes(2)])
      expect(updatesOf(await store.load('a'))).toEqual([bytes(1)])
      expect(updatesOf(await store.load('b'))).toEqual([bytes(2)])
    })

    it('quarantines log entries and the snapshot atomically, lists them and drops them', async () => {
      const first = await store.append('d', [bytes(1), bytes(2)])
      await store.compact('d', bytes(9), first.lastEntry)
      const second = await store.append('d', [bytes(3), bytes(4), bytes(5)])
      const [, bad] = (await store.load('d'))!.slice(1).map(({ entry }) => entry)
      const before = Date.now()
      await store.quarantine('d', [
        { entry: SNAPSHOT_ENTRY, reason: 'snapshot does not decode' },
        { entry: bad!, reason: 'throws in Yjs' },
        { entry: first.lastEntry, reason: 'compacted already: skipped' },
      ])
      expect(updatesOf(await store.load('d'))).toEqual([bytes(3), bytes(5)])
      const quarantined = await store.listQuarantined('d')
      expect(quarantined).toMatchObject([
        { docId: 'd', entry: SNAPSHOT_ENTRY, update: bytes(9), reason: 'snapshot does not decode' },
        { docId: 'd', entry: bad, update: bytes(4), reason: 'throws in Yjs' },
      ])
      expect(quarantined[0]!.quarantinedAt).toBeGreaterThanOrEqual(before - 1000)
      expect(quarantined[0]!.id).not.toBe(quarantined[1]!.id)
      // The log goes on after a quarantine: sizes count what is left, entries are never reused.
      const third = await store.append('d', [bytes(6)])
      expect(third.lastEntry).toBeGreaterThan(second.lastEntry)
      expect(third).toMatchObject({ entries: 3, bytes: 3 })
      await store.append('e', [bytes(7)])
      await store.quarantine('e', [{ entry: (await store.load('e'))![0]!.entry, reason: 'r' }])
      expect((await store.listQuarantined()).map(({ docId }) => docId)).toEqual(['d', 'd', 'e'])
      expect(await store.listQuarantined('nope')).toEqual([])

      expect(await store.dropQuarantined(quarantined[1]!.id)).toBe(true)
      expect(await store.dropQuarantined(quarantined[1]!.id)).toBe(false)
      expect((await store.listQuarantined('d')).map(({ entry }) => entry)).toEqual([SNAPSHOT_ENTRY])
      expect(updatesOf(await store.load('d'))).toEqual([bytes(3), bytes(5), bytes(6)])
    })

    it('keeps everything across a reopen (durable adapters)', async () => {
      if (!reopen) {
        expect(reopen).toBeUndefined() // memory adapters hold nothing across processes
        return
      }
      await store.append('d', [bytes(1), bytes(2)], summary('d', ['alice'], 5))
      const { lastEntry } = await store.append('d', [bytes(3)])
      await store.quarantine('d', [{ entry: lastEntry, reason: 'kept aside' }])
      store = await reopen()
      expect(updatesOf(await store.load('d'))).toEqual([bytes(1), bytes(2)])
      expect(await store.listQuarantined('d')).toMatchObject([{ entry: lastEntry, update: bytes(3) }])
      expect((await store.listConversations('alice')).map((s) => s.id)).toEqual(['d'])
    })
  })
}

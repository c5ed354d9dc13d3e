import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import {
  type AnnouncementRecord,
  ClaimConflictError,
  type ConversationSummary,
  FencedError,
  type LogSize,
  MAX_ANNOUNCEMENTS_PAGE,
  MAX_HISTORY_PAGE,
  SNAPSHOT_ENTRY,
  type Store,
  type StoredEntry,
} from '../src/index.js'

export interface StoreContractSetup {
  store: Store
  /** Close the store and open the same data again (durable adapters). */
  reopen?: () => Promise<Store>
  /**
   * A second store over the same data, as another node opens it (adapters that several
   * processes share); the contract closes it. Without it, the concurrency cases use `store` twice.
   */
  peer?: () => Promise<Store>
  teardown?: () => Promise<void>
}

/**
 * The executable contract of `Store` (STYLE.md): every adapter runs it against itself, and a new
 * adapter is done when it passes. `setup` returns a fresh, empty store.
 */
export function runStoreContract(name: string, setup: () => Promise<StoreContractSetup>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store
    let reopen: (() => Promise<Store>) | undefined
    let openPeer: (() => Promise<Store>) | undefined
    let teardown: (() => Promise<void>) | undefined
    const peers: Store[] = []

    beforeEach(async () => {
      ;({ store, reopen, peer: openPeer, teardown } = await setup())
    })
    afterEach(async () => {
      for (const peer of peers.splice(0)) await peer.close()
      await store.close()
      await teardown?.()
    })

    /** Another node's view of the same store (or this one, for single-process adapters). */
    const peer = async (): Promise<Store> => {
      if (!openPeer) return store
      const opened = await openPeer()
      peers.push(opened)
      return opened
    }
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
    /** Entries a resolved append was given. */
    const rangeOf = (size: LogSize, count: number) =>
      Array.from({ length: count }, (_, i) => size.lastEntry - count + 1 + i)

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

    it('names every document, in id order', async () => {
      expect(await store.conversationIds()).toEqual([])
      for (const id of ['b', 'a', 'c']) await store.append(id, [bytes(1)])
      expect(await (await peer()).conversationIds()).toEqual(['a', 'b', 'c'])
    })

    it('records announcements and lists the most recent first, also after a reopen', async () => {
      expect(await store.recentAnnouncements(10)).toEqual([])
      const posted = (n: number, conversationId: string | null): AnnouncementRecord => ({
        id: `post-${n}`,
        text: `announcement ${n} é🙂`,
        postedBy: 'ops',
        postedAt: 1_700_000_000_000 + n,
        conversationId,
        delivered: n,
        failed: n % 2,
      })
      for (let n = 1; n <= 3; n++) await store.recordAnnouncement(posted(n, n === 2 ? null : `c${n}`))
      expect(await (await peer()).recentAnnouncements(2)).toEqual([posted(3, 'c3'), posted(2, null)])
      if (reopen) store = await reopen()
      expect(await store.recentAnnouncements(10)).toEqual([posted(3, 'c3'), posted(2, null), posted(1, 'c1')])
      expect(await store.recentAnnouncements(MAX_ANNOUNCEMENTS_PAGE + 1)).toHaveLength(3)
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

    it('numbers the updates of an append contiguously, ending at lastEntry', async () => {
      const first = await store.append('d', [bytes(1), bytes(2), bytes(3)])
      const second = await store.append('d', [bytes(4)])
      const third = await store.append('d', [])
      const loaded = (await store.load('d'))!
      expect(loaded.map(({ entry }) => entry)).toEqual([...rangeOf(first, 3), ...rangeOf(second, 1)])
      expect(second.lastEntry).toBe(first.lastEntry + 1)
      // An empty append stores nothing and takes no number.
      expect(third.lastEntry).toBe(second.lastEntry)
    })

    it('numbers concurrent appends to one document contiguously and in commit order, from several nodes', async () => {
      const other = await peer()
      const sizes = [1, 3, 2, 1, 4, 2, 1, 3]
      let next = 0
      const appends = sizes.map((count, i) => {
        const updates = Array.from({ length: count }, () => bytes(i, ++next % 256))
        return (i % 2 === 0 ? store : other).append('d', updates).then((size) => ({ size, updates }))
      })
      const done = await Promise.all(appends)
      // Each append owns lastEntry - count + 1 … lastEntry; together they tile 1 … total, no gap.
      const ranges = done
        .map(({ size, updates }) => rangeOf(size, updates.length))
        .sort((a, b) => a[0]! - b[0]!)
      const all = ranges.flat()
      expect(all).toEqual(Array.from({ length: all.length }, (_, i) => all[0]! + i))
      const loaded = (await store.load('d'))!
      expect(loaded.map(({ entry }) => entry)).toEqual(all)
      // Every entry holds the update its append put there.
      const byEntry = new Map(loaded.map(({ entry, update }) => [entry, update]))
      for (const { size, updates } of done) {
        rangeOf(size, updates.length).forEach((entry, i) => {
          expect(byEntry.get(entry)).toEqual(updates[i])
        })
      }
    })

    it('loads what came after an entry, with the snapshot when compaction folded some of it in', async () => {
      expect(await store.loadSince('nope', 0)).toBeUndefined()
      const first = await store.append('d', [bytes(1), bytes(2)])
      const [e1, e2] = rangeOf(first, 2)
      const second = await store.append('d', [bytes(3)])
      const e3 = second.lastEntry
      expect(await store.loadSince('d', 0)).toEqual(await store.load('d'))
      expect(await store.loadSince('d', e1!)).toEqual([
        { entry: e2, update: bytes(2) },
        { entry: e3, update: bytes(3) },
      ])
      expect(await store.loadSince('d', e3)).toEqual([])

      await store.compact('d', bytes(9), e2!)
      const snapshot = { entry: SNAPSHOT_ENTRY, update: bytes(9) }
      // e2 is in the snapshot only now: whoever lacks it gets the snapshot and the whole log.
      expect(await store.loadSince('d', e1!)).toEqual([snapshot, { entry: e3, update: bytes(3) }])
      expect(await store.loadSince('d', 0)).toEqual([snapshot, { entry: e3, update: bytes(3) }])
      // Whoever holds e2 already needs no snapshot.
      expect(await store.loadSince('d', e2!)).toEqual([{ entry: e3, update: bytes(3) }])
      expect(await store.loadSince('d', e3)).toEqual([])
      const fourth = await store.append('d', [bytes(4)])
      expect(await store.loadSince('d', e3)).toEqual([{ entry: fourth.lastEntry, update: bytes(4) }])
    })

    it('ignores a compaction older than the stored snapshot (two compactions crossed)', async () => {
      const first = await store.append('d', [bytes(1)])
      const second = await store.append('d', [bytes(2)])
      await store.compact('d', bytes(8, 8), second.lastEntry)
      await store.compact('d', bytes(7), first.lastEntry)
      expect(updatesOf(await store.load('d'))).toEqual([bytes(8, 8)])
    })

    it('grants a lease to one node at a time, extends it for its holder at the same epoch', async () => {
      const before = Date.now()
      const lease = await store.acquireLease('d', 'node-a', 60_000)
      expect(lease).toMatchObject({ docId: 'd', nodeId: 'node-a', epoch: 1 })
      // The store's clock, not ours: allow for some skew, but it is a time, in ms.
      expect(lease!.expiresAt).toBeGreaterThan(before + 50_000)
      expect(lease!.expiresAt).toBeLessThan(before + 70_000)
      const other = await peer()
      expect(await other.acquireLease('d', 'node-b', 60_000)).toBeUndefined()
      const again = await store.acquireLease('d', 'node-a', 60_000)
      expect(again).toMatchObject({ docId: 'd', nodeId: 'node-a', epoch: 1 })
      expect(again!.expiresAt).toBeGreaterThanOrEqual(lease!.expiresAt)
      // Leases are per document.
      expect(await other.acquireLease('e', 'node-b', 60_000)).toMatchObject({ nodeId: 'node-b', epoch: 1 })
    })

    it('renews a lease only for its holder at its epoch', async () => {
      const lease = (await store.acquireLease('d', 'node-a', 60_000))!
      expect(await store.renewLease('d', 'node-a', lease.epoch, 60_000)).toBe(true)
      expect(await store.renewLease('d', 'node-b', lease.epoch, 60_000)).toBe(false)
      expect(await store.renewLease('d', 'node-a', lease.epoch + 1, 60_000)).toBe(false)
      expect(await store.renewLease('nope', 'node-a', 1, 60_000)).toBe(false)
    })

    it('hands a released lease to the next node at the next epoch', async () => {
      const a = (await store.acquireLease('d', 'node-a', 60_000))!
      const other = await peer()
      // A release by someone else, or of another epoch, changes nothing.
      await other.releaseLease('d', 'node-b', a.epoch)
      await store.releaseLease('d', 'node-a', a.epoch + 1)
      expect(await other.acquireLease('d', 'node-b', 60_000)).toBeUndefined()
      await store.releaseLease('d', 'node-a', a.epoch)
      expect(await store.renewLease('d', 'node-a', a.epoch, 60_000)).toBe(false)
      const b = await other.acquireLease('d', 'node-b', 60_000)
      expect(b).toMatchObject({ nodeId: 'node-b', epoch: a.epoch + 1 })
      // The old holder's late release does not free the new holder's lease.
      await store.releaseLease('d', 'node-a', a.epoch)
      expect(await store.acquireLease('d', 'node-a', 60_000)).toBeUndefined()
      await other.releaseLease('d', 'node-b', b!.epoch)
      expect(await store.acquireLease('d', 'node-a', 60_000)).toMatchObject({ epoch: a.epoch + 2 })
    })

    it('lets a lease expire by the store clock: it cannot be renewed, and every new tenure is a new epoch', async () => {
      const a = (await store.acquireLease('d', 'node-a', 100))!
      await sleep(300)
      expect(await store.renewLease('d', 'node-a', a.epoch, 100)).toBe(false)
      const other = await peer()
      const b = (await other.acquireLease('d', 'node-b', 100))!
      expect(b).toMatchObject({ nodeId: 'node-b', epoch: a.epoch + 1 })
      await sleep(300)
      // Its own lapsed lease, taken again by the same node: a new epoch all the same, so stamps
      // of its earlier tenure still in flight stay fenced.
      const b2 = (await other.acquireLease('d', 'node-b', 60_000))!
      expect(b2).toMatchObject({ nodeId: 'node-b', epoch: b.epoch + 1 })
      await expect(
        other.append('d', [bytes(1)], undefined, { fence: { nodeId: 'node-b', epoch: b.epoch } }),
      ).rejects.toThrow(FencedError)
    })

    it('commits a fenced append while the fence holds, and refuses it, writing nothing, once it does not', async () => {
      const a = (await store.acquireLease('d', 'node-a', 60_000))!
      const fence = { nodeId: 'node-a', epoch: a.epoch }
      const stamped = await store.append('d', [bytes(1)], summary('d', ['alice'], 1), { fence: fence })
      expect(stamped).toMatchObject({ entries: 1, bytes: 1 })

      const refused = async (promise: Promise<unknown>) => {
        const error = await promise.then(
          () => undefined,
          (thrown: unknown) => thrown,
        )
        expect(error).toBeInstanceOf(FencedError)
        expect(error).toMatchObject({ code: 'fenced' })
      }
      // Another node's fence, a wrong epoch, a document whose lease was never taken.
      await refused(
        store.append('d', [bytes(2)], summary('d', ['alice', 'bob'], 2), {
          fence: { nodeId: 'node-b', epoch: 1 },
        }),
      )
      await refused(
        store.append('d', [bytes(3)], summary('d', ['alice', 'bob'], 3), { fence: { ...fence, epoch: 2 } }),
      )
      await refused(store.append('fresh', [bytes(4)], summary('fresh', ['bob'], 4), { fence: fence }))
      // Taken over: the old holder's fence is refused; the new holder's is not.
      await store.releaseLease('d', 'node-a', a.epoch)
      const other = await peer()
      const b = (await other.acquireLease('d', 'node-b', 60_000))!
      await refused(store.append('d', [bytes(5)], summary('d', ['alice', 'bob'], 5), { fence: fence }))

      // Nothing of the refused appends is stored: no update, no summary, no member, no entry number.
      expect(updatesOf(await store.load('d'))).toEqual([bytes(1)])
      expect(await store.load('fresh')).toBeUndefined()
      expect(await store.listConversations('bob')).toEqual([])
      expect(await store.listConversations('alice')).toEqual([summary('d', ['alice'], 1)])
      const next = await other.append('d', [bytes(6)], undefined, {
        fence: { nodeId: 'node-b', epoch: b.epoch },
      })
      expect(next).toMatchObject({ entries: 2, bytes: 2, lastEntry: stamped.lastEntry + 1 })
    })

    it('refuses a fence whose lease expired, even when nobody took it over', async () => {
      const a = (await store.acquireLease('d', 'node-a', 100))!
      await store.append('d', [bytes(1)], undefined, { fence: { nodeId: 'node-a', epoch: a.epoch } })
      await sleep(300)
      await expect(
        store.append('d', [bytes(2)], undefined, { fence: { nodeId: 'node-a', epoch: a.epoch } }),
      ).rejects.toThrow(FencedError)
      expect(updatesOf(await store.load('d'))).toEqual([bytes(1)])
    })

    it('refuses a fenced append alone when appends share a transaction', async () => {
      const a = (await store.acquireLease('d', 'node-a', 60_000))!
      const [plain, fenced, stale, other] = await Promise.allSettled([
        store.append('x', [bytes(1)], summary('x', ['alice'], 1)),
        store.append('d', [bytes(2)], undefined, { fence: { nodeId: 'node-a', epoch: a.epoch } }),
        store.append('d', [bytes(3)], summary('d', ['bob'], 3), {
          fence: { nodeId: 'node-a', epoch: a.epoch + 1 },
        }),
        store.append('y', [bytes(4)]),
      ])
      expect(plain.status).toBe('fulfilled')
      expect(fenced.status).toBe('fulfilled')
      expect(other.status).toBe('fulfilled')
      expect(stale.status).toBe('rejected')
      expect((stale as PromiseRejectedResult).reason).toBeInstanceOf(FencedError)
      expect(updatesOf(await store.load('x'))).toEqual([bytes(1)])
      expect(updatesOf(await store.load('d'))).toEqual([bytes(2)])
      expect(updatesOf(await store.load('y'))).toEqual([bytes(4)])
      expect(await store.listConversations('bob')).toEqual([])
    })

    it('takes claims with an append: another holder of one refuses the append whole, the same holder is no conflict', async () => {
      const alice = { key: 'm|x', holder: 'alice 7:0' }
      await store.append('d', [bytes(1)], summary('d', ['alice'], 1), {
        claims: [alice, { key: 'c|7', holder: 'alice' }],
      })
      const conflict = await store
        .append('d', [bytes(2)], summary('d', ['alice', 'bob'], 2), {
          claims: [
            { key: 'c|8', holder: 'bob' },
            { key: 'm|x', holder: 'bob 8:0' },
          ],
        })
        .then(
          () => undefined,
          (thrown: unknown) => thrown,
        )
      expect(conflict).toBeInstanceOf(ClaimConflictError)
      expect(conflict).toMatchObject({ code: 'claimed' })
      expect((conflict as Error).message).toContain('m|x')
      // Nothing of it: no update, no summary, and not even its claim that did not conflict.
      expect(updatesOf(await store.load('d'))).toEqual([bytes(1)])
      expect(await store.listConversations('bob')).toEqual([])
      await store.append('d', [bytes(3)], undefined, { claims: [{ key: 'c|8', holder: 'carol' }] })
      // The same write again (a re-send through another node) is no conflict; claims are per document.
      await store.append('d', [bytes(4)], undefined, { claims: [alice] })
      await store.append('e', [bytes(5)], undefined, { claims: [{ key: 'm|x', holder: 'bob 8:0' }] })
      // One append naming one key for two holders conflicts with itself.
      await expect(
        store.append('f', [bytes(6)], undefined, {
          claims: [
            { key: 'm|y', holder: 'alice 7:1' },
            { key: 'm|y', holder: 'bob 8:1' },
          ],
        }),
      ).rejects.toThrow(ClaimConflictError)
      expect(await store.load('f')).toBeUndefined()
      expect(updatesOf(await store.load('d'))).toEqual([bytes(1), bytes(3), bytes(4)])
    })

    it('gives a claim two nodes race for to exactly one of them, and refuses the loser alone in a shared transaction', async () => {
      const other = await peer()
      for (let round = 0; round < 5; round++) {
        const key = `m|race-${round}`
        const outcomes = await Promise.allSettled([
          store.append('d', [bytes(round, 1)], undefined, { claims: [{ key, holder: 'alice' }] }),
          other.append('d', [bytes(round, 2)], undefined, { claims: [{ key, holder: 'bob' }] }),
          store.append('x', [bytes(round, 3)]),
        ])
        expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(2)
        const lost = outcomes.find((outcome) => outcome.status === 'rejected') as PromiseRejectedResult
        expect(lost.reason).toBeInstanceOf(ClaimConflictError)
        expect(outcomes[2]!.status).toBe('fulfilled')
      }
      const stored = updatesOf(await store.load('d'))!
      expect(stored).toHaveLength(5)
      expect(stored.map((update) => update[0])).toEqual([0, 1, 2, 3, 4])
    })

    it('seals history with an append, all or none, and pages it back newest first in ascending order', async () => {
      const record = (seq: number) => ({
        seq,
        id: `m${seq}`,
        author: seq % 2 ? 'alice' : 'bob',
        text: `message ${seq}`,
        createdAt: 1000 + seq,
        to: ['carol'],
      })
      expect(await store.history('d', 100, 10)).toEqual([])
      await store.append('d', [bytes(1)], undefined, { sealed: [1, 2, 3, 4, 5].map(record) })
      // A fenced seal the lease refuses writes no history either.
      const lease = (await store.acquireLease('d', 'node-a', 60_000))!
      await expect(
        store.append('d', [bytes(2)], undefined, {
          fence: { nodeId: 'node-a', epoch: lease.epoch + 1 },
          sealed: [6, 7].map(record),
        }),
      ).rejects.toThrow(FencedError)
      await store.append('d', [bytes(3)], undefined, {
        fence: { nodeId: 'node-a', epoch: lease.epoch },
        sealed: [6, 7, 8].map(record),
      })
      // The same seal again keeps the first records.
      await store.append('d', [bytes(4)], undefined, { sealed: [{ ...record(8), text: 'rewritten' }] })
      expect(await store.history('d', 9, 3)).toEqual([6, 7, 8].map(record))
      expect(await store.history('d', 6, 2)).toEqual([4, 5].map(record))
      expect(await store.history('d', 3, 50)).toEqual([1, 2].map(record))
      expect(await store.history('d', 1, 50)).toEqual([])
      expect(await store.history('other', 9, 50)).toEqual([])
      // Pages are bounded whatever the caller asks.
      await store.append('big', [bytes(5)], undefined, {
        sealed: Array.from({ length: MAX_HISTORY_PAGE + 5 }, (_, i) => record(i + 1)),
      })
      const page = await store.history('big', MAX_HISTORY_PAGE + 6, 10_000)
      expect(page).toHaveLength(MAX_HISTORY_PAGE)
      expect(page[0]!.seq).toBe(6)
      // Found by id too: an id stays taken once sealed (the write rules ask).
      const found = await store.sealedMessages('d', ['m7', 'm2', 'not-sealed', 'm7'])
      expect(found.sort((a, b) => a.seq - b.seq)).toEqual([2, 7].map(record))
      expect(await store.sealedMessages('other', ['m7'])).toEqual([])
      expect(await store.sealedMessages('d', [])).toEqual([])
    })

    it('redacts sealed messages deleted for everyone, in place and once (issue 17)', async () => {
      const record = (seq: number) => ({
        seq,
        id: `m${seq}`,
        author: 'alice',
        text: `secret ${seq}`,
        createdAt: seq,
        to: ['bob'],
        mentions: ['bob'],
      })
      await store.append('d', [bytes(1)], undefined, { sealed: [1, 2, 3].map(record) })
      expect(await store.redactHistory('d', ['m2', 'not-sealed'])).toBe(1)
      const page = await store.history('d', 4, 10)
      expect(page).toEqual([
        record(1),
        { seq: 2, id: 'm2', author: 'alice', text: '', createdAt: 2, to: ['bob'], deleted: true },
        record(3),
      ])
      expect(JSON.stringify(await store.sealedMessages('d', ['m2']))).not.toContain('secret')
      expect(await store.redactHistory('d', ['m2'])).toBe(0)
      expect(await store.redactHistory('other', ['m2'])).toBe(0)
    })

    it('keeps everything across a reopen (durable adapters)', async () => {
      if (!reopen) {
        expect(reopen).toBeUndefined() // memory adapters hold nothing across processes
        return
      }
      await store.append('d', [bytes(1), bytes(2)], summary('d', ['alice'], 5))
      const { lastEntry } = await store.append('d', [bytes(3)])
      await store.quarantine('d', [{ entry: lastEntry, reason: 'kept aside' }])
      const lease = (await store.acquireLease('d', 'node-a', 60_000))!
      const { lastEntry: compacted } = await store.append('e', [bytes(4), bytes(5)])
      await store.compact('e', bytes(9), compacted - 1)
      store = await reopen()
      expect(updatesOf(await store.load('d'))).toEqual([bytes(1), bytes(2)])
      expect(await store.listQuarantined('d')).toMatchObject([{ entry: lastEntry, update: bytes(3) }])
      expect((await store.listConversations('alice')).map((s) => s.id)).toEqual(['d'])
      // Leases, and what the snapshot folded in, are stored too.
      expect(await store.acquireLease('d', 'node-b', 60_000)).toBeUndefined()
      expect(await store.renewLease('d', 'node-a', lease.epoch, 60_000)).toBe(true)
      await store.append('d', [bytes(6)], undefined, { fence: { nodeId: 'node-a', epoch: lease.epoch } })
      // And the claims.
      await store.append('d', [bytes(7)], undefined, { claims: [{ key: 'm|kept', holder: 'alice' }] })
      store = await reopen()
      await expect(
        store.append('d', [bytes(8)], undefined, { claims: [{ key: 'm|kept', holder: 'bob' }] }),
      ).rejects.toThrow(ClaimConflictError)
      expect(await store.loadSince('e', compacted - 2)).toEqual([
        { entry: SNAPSHOT_ENTRY, update: bytes(9) },
        { entry: compacted, update: bytes(5) },
      ])
      expect(await store.loadSince('e', compacted - 1)).toEqual([{ entry: compacted, update: bytes(5) }])
    })
  })
}

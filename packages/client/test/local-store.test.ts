import 'fake-indexeddb/auto'
import { Conversation, initConversation, randomId, sealThrough, stampUnsequenced } from '@ticks/core'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { COMPACT_AFTER_ENTRIES, indexedDbStore } from '../src/index.js'

const countEntries = (name: string) =>
  new Promise<number>((resolve, reject) => {
    const request = indexedDB.open(name)
    request.onerror = () => reject(request.error)
    request.onsuccess = () => {
      const db = request.result
      const count = db.transaction('updates', 'readonly').objectStore('updates').count()
      count.onsuccess = () => {
        db.close()
        resolve(count.result)
      }
    }
  })

/** What another connection sees in the database right now (without closing the writer). */
const readStored = (name: string) =>
  new Promise<Y.Doc>((resolve, reject) => {
    const request = indexedDB.open(name)
    request.onerror = () => reject(request.error)
    request.onsuccess = () => {
      const db = request.result
      const all = db.transaction('updates', 'readonly').objectStore('updates').getAll()
      all.onsuccess = () => {
        db.close()
        const doc = new Y.Doc()
        for (const update of all.result as Uint8Array[]) Y.applyUpdate(doc, update)
        resolve(doc)
      }
    }
  })

/** The promise's value, or 'pending' if it has not settled within `ms`. */
const within = <T>(promise: Promise<T>, ms = 2000) =>
  Promise.race([promise, new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), ms))])

async function reload(name: string) {
  const doc = new Y.Doc()
  const store = indexedDbStore(name, doc)
  await store.whenLoaded
  return { doc, store }
}

describe('IndexedDB store (y-indexeddb wrapped)', () => {
  it('tells an empty database from a stored document', async () => {
    const name = `test:${randomId()}`
    const first = await reload(name)
    expect(first.store.loadedFromDisk()).toBe(false)
    first.doc.getMap('u:alice').set('m|x', { text: 'hi' })
    expect(await first.store.whenPersisted()).toBe(true)
    await first.store.destroy()

    const second = await reload(name)
    expect(second.store.loadedFromDisk()).toBe(true)
    expect(second.doc.getMap('u:alice').get('m|x')).toEqual({ text: 'hi' })
    await second.store.destroy()
  })

  it('reports a write as on disk only after its transaction committed, and it survives', async () => {
    const name = `test:${randomId()}`
    const { doc, store } = await reload(name)
    const changes: boolean[] = []
    store.onDiskChange(() => changes.push(store.onDisk()))
    expect(store.onDisk()).toBe(true)
    for (let i = 0; i < 5; i++) doc.getMap('u:alice').set(`m|${i}`, { i })
    expect(store.onDisk()).toBe(false)
    await store.whenPersisted()
    expect((await readStored(name)).getMap('u:alice').size).toBe(5)
    // The marker's completion is delivered after whenPersisted's own marker; give it one turn.
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(store.onDisk()).toBe(true)
    expect(changes).toEqual([false, true])
    await store.destroy()
    const again = await reload(name)
    expect([...again.doc.getMap('u:alice').keys()].sort()).toEqual(['m|0', 'm|1', 'm|2', 'm|3', 'm|4'])
    await again.store.destroy()
  })

  it('destroyed during its load: whenLoaded and whenPersisted settle, and the write still lands', async () => {
    const name = `test:${randomId()}`
    const doc = new Y.Doc()
    doc.getMap('u:alice').set('m|early', { text: 'before the load' })
    const store = indexedDbStore(name, doc)
    const persisted = store.whenPersisted()
    const destroyed = store.destroy() // y-indexeddb's load has not finished
    expect(await within(store.whenLoaded)).toBeUndefined()
    expect(await within(persisted)).toBe(true)
    await destroyed
    expect(await within(store.whenPersisted())).toBe(true)
    const again = await reload(name)
    expect(again.doc.getMap('u:alice').get('m|early')).toEqual({ text: 'before the load' })
    await again.store.destroy()
  })

  it('destroyed right after a write: whenPersisted still says true (destroy waits for it)', async () => {
    const name = `test:${randomId()}`
    const { doc, store } = await reload(name)
    doc.getMap('u:alice').set('m|last', { text: 'just before closing' })
    await store.destroy()
    expect(await within(store.whenPersisted())).toBe(true)
    expect((await readStored(name)).getMap('u:alice').get('m|last')).toEqual({ text: 'just before closing' })
  })

  it('keeps the stored log bounded however often the document is reloaded', async () => {
    const name = `test:${randomId()}`
    for (let i = 0; i < COMPACT_AFTER_ENTRIES * 3; i++) {
      const { doc, store } = await reload(name)
      doc.getMap('u:alice').set(`m|${i}`, { i })
      await store.whenPersisted()
      await store.destroy()
    }
    // Each load adds one entry and each session one update; compaction keeps it under the bound.
    expect(await countEntries(name)).toBeLessThanOrEqual(COMPACT_AFTER_ENTRIES + 3)
    const { doc, store } = await reload(name)
    expect(doc.getMap('u:alice').size).toBe(COMPACT_AFTER_ENTRIES * 3)
    await store.destroy()
  })

  it('stores the entries of messages sealed while the device held them as the server does (no keys)', async () => {
    const name = `test:${randomId()}`
    const first = await reload(name)
    initConversation(first.doc, { title: 't', members: { alice: 'owner', bob: 'member' } })
    const alice = new Conversation(first.doc, { userId: 'alice', replicaId: 'a1' })
    const sent = Array.from({ length: 200 }, (_, i) => alice.send(`message ${i}`))
    stampUnsequenced(alice.conversationIndex)
    // The sequencer seals all but the last ten; this device held every one of them.
    sealThrough(alice.conversationIndex, 190)
    expect(await first.store.whenPersisted()).toBe(true)
    const heldBytes = Y.encodeStateAsUpdate(first.doc).byteLength
    await first.store.destroy()

    for (let i = 0; i <= COMPACT_AFTER_ENTRIES; i++) await (await reload(name)).store.destroy()
    // The load past the bound compacted the log: the stored state holds no sealed entry's key.
    const stored = await readStored(name)
    const storedBytes = Y.encodeStateAsUpdate(stored).byteLength
    const keys = [...stored.getMap('u:alice').keys()]
    expect(keys.filter((key) => key.startsWith('m|'))).toHaveLength(10)
    expect(storedBytes).toBeLessThan(heldBytes - 190 * 20)
    // Still the same conversation: the window, the seqs, nothing pending.
    const reopened = new Conversation(stored, { userId: 'alice', replicaId: 'a1' })
    expect(reopened.messages().map((m) => m.id)).toEqual(sent.slice(190).map((m) => m.id))
    expect(reopened.messages().map((m) => m.seq)).toEqual(sent.slice(190).map((_, i) => 191 + i))
    expect(reopened.sealedThrough()).toBe(190)
  })
})

import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import {
  applyCheckedUpdate,
  Conversation,
  checkUpdate,
  collectSealedEntries,
  compactSealedEntries,
  generateSigningKey,
  initConversation,
  lastSeqOf,
  type SigningKey,
  sealThrough,
  signatureKey,
  signMessage,
  stampUnsequenced,
} from '../src/index.js'

const MEMBERS = { alice: 'owner', bob: 'member', carol: 'member' } as const

/** A server doc and replicas that sync with it by whole-state exchange (enough for these checks). */
function setup() {
  const server = new Y.Doc({ guid: 'c' })
  initConversation(server, { title: 't', members: { ...MEMBERS } })
  const serverView = new Conversation(server, { userId: 'server-view' })
  const replica = (userId: string, replicaId: string) => {
    const doc = new Y.Doc({ guid: 'c' })
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(server))
    return new Conversation(doc, { userId, replicaId })
  }
  const sync = (conversation: Conversation) => {
    Y.applyUpdate(server, Y.encodeStateAsUpdate(conversation.doc, Y.encodeStateVector(server)))
    Y.applyUpdate(conversation.doc, Y.encodeStateAsUpdate(server, Y.encodeStateVector(conversation.doc)))
  }
  return { server, index: serverView.conversationIndex, replica, sync }
}

const view = (conversation: Conversation) =>
  conversation.messages().map(({ id, seq, status, text }) => ({ id, seq, status, text }))

describe('sealing (DESIGN section 12)', () => {
  it('keeps seqs and statuses: sealed messages move to history, receipts still raise them', () => {
    const { index, replica, sync } = setup()
    const alice = replica('alice', 'a1')
    const bob = replica('bob', 'b1')
    const sent = Array.from({ length: 6 }, (_, i) => alice.send(`hello ${i}`))
    sync(alice)
    stampUnsequenced(index)
    sync(alice)
    sync(bob)
    bob.markRead(sent[1]!.id)
    sync(bob)
    const before = view(alice)
    expect(before.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6])

    const sealed = sealThrough(index, 4)
    expect(sealed.map((m) => m.seq)).toEqual([1, 2, 3, 4])
    expect(index.sealedThrough).toBe(4)
    expect(index.lastSeq()).toBe(6)
    sync(alice)
    sync(bob)
    // Replicas that held the messages keep showing them, with the same seq and status.
    expect(view(alice)).toEqual(before)
    expect(alice.conversationIndex.messages.size).toBe(2)
    expect(alice.conversationIndex.history.size).toBe(4)

    // Bob reads everything: the watermark is over absolute seq, so sealed messages turn read too.
    bob.markRead()
    sync(bob)
    sync(alice)
    expect(bob.conversationIndex.watermarkOf('bob')).toEqual({ d: 6, r: 6 })
    expect(alice.receipts(sent[2]!.id)).toEqual({ bob: 'read', carol: 'sent' })
    expect(view(alice).map((m) => m.status)).toEqual(Array(6).fill('sent'))
    expect(alice.conversationIndex.watermarkOf('bob')).toEqual({ d: 6, r: 6 })
  })

  it('opens a sealed conversation with the window only, and pages of history fill in statuses', () => {
    const { index, server, replica, sync } = setup()
    const alice = replica('alice', 'a1')
    const sent = Array.from({ length: 5 }, (_, i) => alice.send(`m${i}`))
    sync(alice)
    stampUnsequenced(index)
    const sealed = sealThrough(index, 3)
    const carol = replica('carol', 'c1')
    expect(view(carol).map((m) => m.id)).toEqual([sent[3]!.id, sent[4]!.id])
    // Sealed messages count as integrated: the new device may say delivered for all five.
    expect(carol.conversationIndex.integratedPrefix()).toBe(5)
    carol.markDelivered()
    sync(carol)
    expect(lastSeqOf(server)).toBe(5)
    carol.conversationIndex.addHistory(sealed)
    expect(view(carol).map((m) => [m.id, m.seq])).toEqual(sent.map((m, i) => [m.id, i + 1]))
    expect(carol.message(sent[0]!.id).author).toBe('alice')
    // A page can never rewrite the live window.
    carol.conversationIndex.addHistory([{ ...sealed[0]!, seq: 5 }])
    expect(carol.messages().filter((m) => m.id === sent[0]!.id)).toHaveLength(1)
  })

  it('accepts receipts above the live log: the write rules count sealed seqs', () => {
    const { index, server, replica, sync } = setup()
    const alice = replica('alice', 'a1')
    for (let i = 0; i < 4; i++) alice.send(`m${i}`)
    sync(alice)
    stampUnsequenced(index)
    sealThrough(index, 3)
    const bob = replica('bob', 'b1')
    const updates: Uint8Array[] = []
    bob.doc.on('update', (update: Uint8Array) => updates.push(update))
    bob.markRead()
    expect(updates).toHaveLength(1)
    const verdict = checkUpdate(server, updates[0]!, { userId: 'bob', role: 'member' })
    expect(verdict).toMatchObject({ ok: true })
    applyCheckedUpdate(server, updates[0]!)
    expect(new Conversation(server, { userId: 'x' }).conversationIndex.watermarkOf('bob')).toEqual({
      d: 4,
      r: 4,
    })
  })

  it('a replica offline across sealing gets its pending message stamped and sealed, and loses nothing live', () => {
    const { index, replica, sync } = setup()
    const alice = replica('alice', 'a1')
    const bob = replica('bob', 'b1')
    alice.send('first')
    sync(alice)
    stampUnsequenced(index)
    sync(bob)
    const offline = bob.send('written offline')
    // Bob's message reaches the server, is stamped and sealed before bob hears back.
    Y.applyUpdate(index.doc, Y.encodeStateAsUpdate(bob.doc, Y.encodeStateVector(index.doc)))
    stampUnsequenced(index)
    for (let i = 0; i < 3; i++) alice.send(`more ${i}`)
    sync(alice)
    stampUnsequenced(index)
    sealThrough(index, 3)
    sync(bob)
    expect(index.history.get(offline.id)?.seq).toBe(2)
    // The live window is everyone's; what bob held when it was sealed stays on show.
    expect(view(bob).slice(-2)).toEqual(view(replica('carol', 'c1')))
    expect(view(bob).map((m) => m.seq)).toEqual([1, 4, 5])
    // Its message was sealed before bob heard of its stamp: the history pages bring it back, sent.
    bob.conversationIndex.addHistory([...index.history.values()])
    expect(view(bob).map((m) => m.seq)).toEqual([1, 2, 3, 4, 5])
    expect(bob.status(offline.id)).toBe('sent')
  })
})

describe('announcements (issue 16)', () => {
  it('show as messages of the system author, sequenced, receipted and sealed like any', () => {
    const { server, index, replica, sync } = setup()
    server
      .getMap('system')
      .set('m|ann1', { id: 'ann1', text: 'Fire drill at 3', createdAt: 5, to: ['alice', 'bob', 'carol'] })
    stampUnsequenced(index)
    const bob = replica('bob', 'b1')
    const [shown] = bob.messages()
    expect(shown).toMatchObject({ id: 'ann1', author: ':system', announcement: true, seq: 1, status: 'sent' })
    bob.markRead()
    sync(bob)
    const alice = replica('alice', 'a1')
    alice.send('after')
    sync(alice)
    stampUnsequenced(index)
    sealThrough(index, 1)
    expect(server.getMap('system').has('m|ann1')).toBe(false)
    expect(index.history.get('ann1')?.author).toBe(':system')
    const fresh = new Y.Doc({ guid: 'c' })
    Y.applyUpdate(fresh, compactSealedEntries(server))
    expect(new Conversation(fresh, { userId: 'carol' }).messages().map((m) => m.text)).toEqual(['after'])
  })
})

describe('compacting sealed entries', () => {
  /** An update's structs (kind, id, length, content kind) and delete set, for comparing encodings. */
  const shapeOf = (update: Uint8Array) => {
    const { structs, ds } = Y.decodeUpdate(update)
    return {
      structs: structs.map((struct) => [
        struct.constructor.name,
        struct.id.client,
        struct.id.clock,
        struct.length,
        struct instanceof Y.Item ? struct.content.constructor.name : null,
      ]),
      deleted: [...ds.clients].map(([client, ranges]) => [client, ranges.map((r) => [r.clock, r.len])]),
    }
  }

  /**
   * A realistic history: three devices, each raising its receipt after every message it receives
   * and sending every third message (the tombstone pattern of issue 15), signed with `keys`
   * (issue 16) when given.
   */
  async function busyConversation(count: number, keys?: Record<string, SigningKey>) {
    const { server, index, replica, sync } = setup()
    const devices = [replica('alice', 'a1'), replica('bob', 'b1'), replica('carol', 'c1')]
    for (let i = 0; i < count; i++) {
      const author = devices[i % 3]!
      const message = author.send(`message number ${i}`)
      const key = keys?.[author.userId]
      if (key) expect(await signMessage(author.doc, author.userId, message, key, author)).toBe('signed')
      sync(author)
      stampUnsequenced(index)
      for (const device of devices) {
        sync(device)
        device.markRead()
        sync(device)
      }
    }
    return { server, index, devices, sync }
  }

  it('keeps the live document from growing with history, signatures on (issue 16)', async () => {
    const keys: Record<string, SigningKey> = {}
    for (const user of Object.keys(MEMBERS)) keys[user] = await generateSigningKey()
    const sizes: Record<number, number> = {}
    for (const count of [300, 900]) {
      const { server, index } = await busyConversation(count, keys)
      const sealed = sealThrough(index, count - 50)
      // Each signature left with its message, into its sealed record; the window keeps its own.
      expect(sealed.every((message) => message.signature !== undefined)).toBe(true)
      const signatures = [...Object.keys(MEMBERS)].flatMap((user) =>
        [...server.getMap(`u:${user}`).keys()].filter((key) => key.startsWith(signatureKey(''))),
      )
      expect(signatures).toHaveLength(50)
      const compacted = compactSealedEntries(server)
      const fresh = new Y.Doc({ guid: 'c' })
      Y.applyUpdate(fresh, compacted)
      expect(Y.encodeStateVector(fresh)).toEqual(Y.encodeStateVector(server))
      expect(view(new Conversation(fresh, { userId: 'alice' }))).toEqual(
        view(new Conversation(server, { userId: 'alice' })).slice(-50),
      )
      sizes[count] = compacted.byteLength
    }
    // 600 more sealed signed messages cost a few bytes at most (the window is the same size),
    // where each signature left in the document cost 137.
    expect(sizes[900]! - sizes[300]!).toBeLessThan(600 * 3)
  })

  it('syncs both ways with replicas that hold the full entries', async () => {
    const { server, index, devices, sync } = await busyConversation(60)
    sealThrough(index, 40)
    for (const device of devices) sync(device)
    const fresh = new Y.Doc({ guid: 'c' })
    Y.applyUpdate(fresh, compactSealedEntries(server))
    const alice = devices[0]!
    const late = alice.send('after compaction')
    // The compacted copy takes the replica's new write, and the replica takes nothing it lacks.
    Y.applyUpdate(fresh, Y.encodeStateAsUpdate(alice.doc, Y.encodeStateVector(fresh)))
    Y.applyUpdate(alice.doc, Y.encodeStateAsUpdate(fresh, Y.encodeStateVector(alice.doc)))
    expect(Y.encodeStateVector(fresh)).toEqual(Y.encodeStateVector(alice.doc))
    const freshView = new Conversation(fresh, { userId: 'bob' })
    expect(freshView.messages().map((m) => m.id)).toContain(late.id)
    expect(freshView.messages().filter((m) => m.seq !== undefined)).toHaveLength(20)
  })

  it('collects them in a live document in place, which then encodes as compactly and goes on working', async () => {
    const { server, index, devices, sync } = await busyConversation(90)
    sealThrough(index, 60)
    const compacted = compactSealedEntries(server)
    const vector = Y.encodeStateVector(server)
    expect(Y.encodeStateAsUpdate(server).byteLength).toBeGreaterThan(compacted.byteLength + 60 * 20)
    expect(collectSealedEntries(server)).toBe(60)
    expect(collectSealedEntries(server)).toBe(0) // nothing left to collect
    // What a room loaded from the snapshot would hold: the same state, structs and deletions (the
    // bytes differ in one flag: re-encoding a decoded update drops an item's has-key bit when it
    // has an origin, which decoding ignores).
    expect(Y.encodeStateVector(server)).toEqual(vector)
    expect(shapeOf(Y.encodeStateAsUpdate(server))).toEqual(shapeOf(compacted))
    expect(Y.encodeStateAsUpdate(server).byteLength).toBe(compacted.byteLength)
    // And it goes on: writes, stamps, receipts, another seal, replicas with the full entries.
    const [alice, bob] = devices as [Conversation, Conversation]
    const late = alice.send('after collecting')
    sync(alice)
    stampUnsequenced(index)
    for (const device of devices) sync(device)
    for (const device of [bob, devices[2]!]) {
      device.markRead()
      sync(device)
    }
    sync(alice)
    expect(alice.status(late.id)).toBe('read')
    sealThrough(index, 80)
    expect(collectSealedEntries(server)).toBe(20)
    const joined = new Y.Doc({ guid: 'c' })
    Y.applyUpdate(joined, Y.encodeStateAsUpdate(server))
    const joinedView = new Conversation(joined, { userId: 'carol' })
    expect(view(joinedView)).toEqual(view(new Conversation(server, { userId: 'carol' })))
    expect(joinedView.messages().map((m) => m.seq)).toEqual(Array.from({ length: 11 }, (_, i) => 81 + i))
  })
})

describe('sealing signed messages (issues 15 and 16)', () => {
  it('collects the deleted signatures in place with their messages', async () => {
    const { server, index, replica, sync } = setup()
    const alice = replica('alice', 'a1')
    const key = await generateSigningKey()
    for (let i = 0; i < 30; i++) {
      const message = alice.send(`signed ${i}`)
      await signMessage(alice.doc, 'alice', message, key, alice)
    }
    sync(alice)
    stampUnsequenced(index)
    sealThrough(index, 20)
    const compacted = compactSealedEntries(server)
    // 20 message entries and their 20 signatures: none keeps its key in the document.
    expect(collectSealedEntries(server)).toBe(40)
    expect(Y.encodeStateAsUpdate(server).byteLength).toBe(compacted.byteLength)
    const root = server.getMap('u:alice') as Y.Map<unknown>
    const keys = [...root._map.keys()]
    expect(keys.filter((k) => k.startsWith('s|'))).toHaveLength(10)
    expect(keys.filter((k) => k.startsWith('m|'))).toHaveLength(10)
    // A replica holding the full entries still syncs with the collected document.
    sync(alice)
    expect(Y.encodeStateVector(alice.doc)).toEqual(Y.encodeStateVector(server))
  })
})

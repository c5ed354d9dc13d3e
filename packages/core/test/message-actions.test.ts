import { beforeEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import {
  applyCheckedUpdate,
  Conversation,
  ConversationIndex,
  checkUpdate,
  compactSealedEntries,
  initConversation,
  type Role,
  sealThrough,
  stampUnsequenced,
  TicksError,
  type Writer,
} from '../src/index.js'

/**
 * Message actions (issue 17): reply, mentions, reactions, edit and delete for everyone, through
 * the model's API and through the write rules the server applies to every update.
 */

const MEMBERS: Record<string, Role> = { alice: 'owner', bob: 'member', carol: 'member', olga: 'observer' }
const REMOTE = Symbol('remote')

let server: Y.Doc
let serverIndex: ConversationIndex

beforeEach(() => {
  server = new Y.Doc({ guid: 'c' })
  initConversation(server, { title: 'actions', members: MEMBERS })
  serverIndex = new ConversationIndex(server)
})

const as = (userId: string, extra: Partial<Writer> = {}): Writer => ({
  userId,
  role: MEMBERS[userId],
  ...extra,
})

interface Device {
  doc: Y.Doc
  conversation: Conversation
}

function device(userId: string, options: { now?: () => number } = {}): Device {
  const doc = new Y.Doc({ guid: 'c' })
  Y.applyUpdate(doc, Y.encodeStateAsUpdate(server), REMOTE)
  return {
    doc,
    conversation: new Conversation(doc, { userId, replicaId: `${userId}-${doc.clientID}`, ...options }),
  }
}

/** What `device` has that the server lacks, checked as `userId` and applied when accepted. */
function push(from: Device, userId: string, writer: Writer = as(userId)) {
  const update = Y.encodeStateAsUpdate(from.doc, Y.encodeStateVector(server))
  const verdict = checkUpdate(server, update, writer)
  if (verdict.ok && !verdict.incomplete) applyCheckedUpdate(server, update, REMOTE)
  return verdict
}

function pull(to: Device): void {
  Y.applyUpdate(to.doc, Y.encodeStateAsUpdate(server, Y.encodeStateVector(to.doc)), REMOTE)
}

/** Everything a device wrote reaches the server, is stamped, and every device gets it back. */
function roundTrip(...devices: Device[]): void {
  for (const d of devices) expect(push(d, d.conversation.userId)).toMatchObject({ ok: true })
  stampUnsequenced(serverIndex)
  for (const d of devices) pull(d)
}

/** An update made on a copy of the server's doc by `write`, as if sent by a forger. */
function updateFrom(write: (doc: Y.Doc) => void): Uint8Array {
  const doc = new Y.Doc({ guid: 'c' })
  Y.applyUpdate(doc, Y.encodeStateAsUpdate(server))
  const before = Y.encodeStateVector(doc)
  write(doc)
  return Y.encodeStateAsUpdate(doc, before)
}

const code = (fn: () => unknown): string | undefined => {
  try {
    fn()
  } catch (error) {
    if (error instanceof TicksError) return error.code
    throw error
  }
  return undefined
}

describe('message actions through the model', () => {
  it('a reply names the message it answers and shows its current text; mentions are recorded', () => {
    const alice = device('alice')
    const bob = device('bob')
    const question = alice.conversation.send('lunch @bob and @carol. and @nobody?')
    expect(question.mentions).toEqual(['bob', 'carol'])
    roundTrip(alice, bob)
    const answer = bob.conversation.send('yes', { replyTo: question.id })
    expect(answer.replyTo).toMatchObject({ id: question.id, author: 'alice' })
    roundTrip(bob, alice)
    expect(alice.conversation.message(answer.id).replyTo).toEqual({
      id: question.id,
      author: 'alice',
      text: 'lunch @bob and @carol. and @nobody?',
    })
    alice.conversation.edit(question.id, 'lunch at noon?')
    roundTrip(alice, bob)
    expect(bob.conversation.message(answer.id).replyTo?.text).toBe('lunch at noon?')
    alice.conversation.deleteForEveryone(question.id)
    roundTrip(alice, bob)
    expect(bob.conversation.message(answer.id).replyTo).toEqual({
      id: question.id,
      author: 'alice',
      deleted: true,
    })
    expect(code(() => bob.conversation.send('to nothing', { replyTo: question.id }))).toBe('deleted')
    expect(code(() => bob.conversation.send('to nothing', { replyTo: 'missing' }))).toBe('unknown-message')
  })

  it('a reply to a message this replica does not hold shows who it answered, without text', () => {
    const alice = device('alice')
    const bob = device('bob')
    const first = alice.conversation.send('first')
    roundTrip(alice, bob)
    const reply = bob.conversation.send('re', { replyTo: first.id })
    roundTrip(bob)
    sealThrough(serverIndex, serverIndex.lastSeq() - 1) // `first` sealed; a fresh replica lacks it
    const fresh = device('carol')
    expect(fresh.conversation.message(reply.id).replyTo).toEqual({ id: first.id, author: 'alice' })
    fresh.conversation.addHistory([
      { id: first.id, author: 'alice', text: 'first', createdAt: first.createdAt, to: first.to, seq: 1 },
    ])
    expect(fresh.conversation.message(reply.id).replyTo).toEqual({
      id: first.id,
      author: 'alice',
      text: 'first',
    })
  })

  it('reactions: per emoji the members who reacted, bounded, removable only by their author', () => {
    const alice = device('alice')
    const bob = device('bob')
    const carol = device('carol')
    const m = alice.conversation.send('hello')
    roundTrip(alice, bob, carol)
    expect(bob.conversation.react(m.id, '👍')).toBe(true)
    expect(bob.conversation.react(m.id, '👍')).toBe(false)
    carol.conversation.react(m.id, '👍')
    carol.conversation.react(m.id, '🎉')
    roundTrip(bob, carol, alice)
    expect(alice.conversation.message(m.id).reactions).toEqual({ '🎉': ['carol'], '👍': ['bob', 'carol'] })
    expect(alice.conversation.unreact(m.id, '🎉')).toBe(false) // not alice's
    carol.conversation.unreact(m.id, '🎉')
    roundTrip(carol, alice)
    expect(alice.conversation.message(m.id).reactions).toEqual({ '👍': ['bob', 'carol'] })
    expect(code(() => bob.conversation.react(m.id, 'two words'))).toBe('invalid-argument')
    expect(code(() => bob.conversation.react(m.id, 'x'.repeat(33)))).toBe('invalid-argument')
    for (const emoji of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) bob.conversation.react(m.id, emoji)
    expect(code(() => bob.conversation.react(m.id, 'h'))).toBe('too-many-reactions')
    expect(push(bob, 'bob')).toMatchObject({ ok: true })
  })

  it('add-wins between two devices of one user: a concurrent add survives a removal', () => {
    const alice = device('alice')
    const phone = device('bob')
    const laptop = device('bob')
    const m = alice.conversation.send('hi')
    roundTrip(alice, phone, laptop)
    phone.conversation.react(m.id, '❤️')
    roundTrip(phone, laptop)
    laptop.conversation.unreact(m.id, '❤️') // saw the phone's key and removes it
    phone.conversation.unreact(m.id, '❤️')
    phone.conversation.react(m.id, '❤️') // meanwhile, a new key on the phone
    roundTrip(laptop, phone, alice)
    roundTrip(laptop, phone, alice)
    for (const d of [alice, phone, laptop])
      expect(d.conversation.message(m.id).reactions).toEqual({ '❤️': ['bob'] })
  })

  it('edit: only the author, latest text everywhere, seq and status unchanged, bounded', () => {
    let clock = 1_000
    const alice = device('alice', { now: () => clock++ })
    const bob = device('bob')
    const m = alice.conversation.send('helo')
    roundTrip(alice, bob)
    bob.conversation.markRead()
    roundTrip(bob, alice)
    expect(alice.conversation.receipts(m.id)).toEqual({ bob: 'read', carol: 'sent' })
    const edited = alice.conversation.edit(m.id, 'hello')
    expect(edited).toMatchObject({ text: 'hello', seq: 1, edited: { at: expect.any(Number) } })
    expect(alice.conversation.receipts(m.id)).toEqual({ bob: 'read', carol: 'sent' })
    roundTrip(alice, bob)
    expect(bob.conversation.message(m.id)).toMatchObject({ text: 'hello', seq: 1, edited: {} })
    expect(bob.conversation.receipts(m.id)).toEqual({ bob: 'read', carol: 'sent' })
    expect(code(() => bob.conversation.edit(m.id, 'mine'))).toBe('not-owner')
    expect(code(() => alice.conversation.edit(m.id, ' '))).toBe('empty-text')
    expect(code(() => alice.conversation.edit(m.id, 'x'.repeat(16 * 1024 + 1)))).toBe('text-too-long')
    for (let i = 0; i < 19; i++) alice.conversation.edit(m.id, `v${i}`)
    expect(code(() => alice.conversation.edit(m.id, 'one too many'))).toBe('rate-limited')
    clock += 60_000
    alice.conversation.edit(m.id, 'a minute later')
    roundTrip(alice, bob)
    expect(bob.conversation.message(m.id).text).toBe('a minute later')
  })

  it('concurrent edits from two devices of the author converge on one text', () => {
    const laptop = device('alice')
    const phone = device('alice')
    const bob = device('bob')
    const m = laptop.conversation.send('draft')
    roundTrip(laptop, phone, bob)
    laptop.conversation.edit(m.id, 'from the laptop')
    phone.conversation.edit(m.id, 'from the phone')
    roundTrip(laptop, phone, bob)
    roundTrip(laptop, phone, bob)
    const texts = [laptop, phone, bob].map((d) => d.conversation.message(m.id).text)
    expect(new Set(texts).size).toBe(1)
    expect(['from the laptop', 'from the phone']).toContain(texts[0])
  })

  it('two devices of the author delete a message at once; either carries both markers to the server', () => {
    for (const sentFirst of [true, false]) {
      const laptop = device('alice')
      const phone = device('alice')
      // Yjs keeps the marker of the higher client id and encodes it first: the phone's overwritten
      // marker comes after it in the update that carries both (the order the fuzzer found).
      laptop.doc.clientID = 2_000_000_000
      phone.doc.clientID = 1_000_000_000
      const m = laptop.conversation.send('twice gone')
      if (sentFirst) roundTrip(laptop, phone)
      else Y.applyUpdate(phone.doc, Y.encodeStateAsUpdate(laptop.doc), REMOTE)
      laptop.conversation.deleteForEveryone(m.id)
      phone.conversation.deleteForEveryone(m.id)
      Y.applyUpdate(phone.doc, Y.encodeStateAsUpdate(laptop.doc, Y.encodeStateVector(phone.doc)), REMOTE)
      roundTrip(phone, laptop)
      const views = [laptop.conversation, phone.conversation, new Conversation(server, { userId: 'bob' })]
      for (const view of views) {
        const shown = view.messages().filter((shown) => shown.id === m.id)
        // A sent message stays as a tombstone; one the server never had is simply gone.
        expect(shown).toEqual(sentFirst ? [expect.objectContaining({ deleted: true, text: '' })] : [])
      }
    }
  })

  it('delete for everyone: a tombstone in place, its text gone from the document, permanent', () => {
    const alice = device('alice')
    const bob = device('bob')
    const keep = alice.conversation.send('before')
    const secret = alice.conversation.send('the secret text')
    roundTrip(alice, bob)
    const after = bob.conversation.send('after')
    roundTrip(bob, alice)
    alice.conversation.edit(secret.id, 'the edited secret')
    roundTrip(alice, bob)
    bob.conversation.react(secret.id, '😮')
    bob.conversation.markRead()
    roundTrip(bob, alice)
    expect(code(() => bob.conversation.deleteForEveryone(secret.id))).toBe('not-owner')
    alice.conversation.deleteForEveryone(secret.id)
    roundTrip(alice, bob)
    const shown = bob.conversation.messages().map((m) => [m.id, m.seq, m.text, m.deleted])
    expect(shown).toEqual([
      [keep.id, 1, 'before', undefined],
      [secret.id, 2, '', true],
      [after.id, 3, 'after', undefined],
    ])
    expect(bob.conversation.receipts(secret.id)).toEqual({ bob: 'read', carol: 'sent' })
    expect(bob.conversation.message(secret.id).reactions).toBeUndefined()
    const stored = Buffer.from(Y.encodeStateAsUpdate(server)).toString('utf8')
    expect(stored).not.toContain('the secret text')
    expect(stored).not.toContain('the edited secret')
    expect(code(() => alice.conversation.edit(secret.id, 'back'))).toBe('deleted')
    expect(code(() => alice.conversation.deleteForEveryone(secret.id))).toBe('deleted')
    // A fresh replica loading the document shows the same tombstone.
    const fresh = device('carol')
    expect(fresh.conversation.message(secret.id)).toMatchObject({ seq: 2, text: '', deleted: true })
  })

  it('deleting a sealed message: the history page shows it deleted', () => {
    const alice = device('alice')
    const m = alice.conversation.send('old news')
    alice.conversation.send('newer')
    roundTrip(alice)
    const sealed = sealThrough(serverIndex, 1)
    pull(alice)
    alice.conversation.deleteForEveryone(m.id)
    const sealedAuthorOf = (id: string) => (sealed.some((s) => s.record.id === id) ? 'alice' : null)
    expect(push(alice, 'alice', as('alice', { sealedAuthorOf }))).toMatchObject({ ok: true })
    const fresh = device('bob')
    fresh.conversation.addHistory([
      { id: m.id, author: 'alice', text: 'old news', createdAt: m.createdAt, to: m.to, seq: 1 },
    ])
    expect(fresh.conversation.messages()[0]).toMatchObject({ id: m.id, seq: 1, text: '', deleted: true })
  })

  it('an own edit left unsent when another device deleted the message is dropped, not refused', () => {
    const laptop = device('alice')
    const phone = device('alice')
    const m = laptop.conversation.send('typo')
    roundTrip(laptop, phone)
    phone.conversation.deleteForEveryone(m.id)
    laptop.conversation.edit(m.id, 'fixed typo')
    roundTrip(phone)
    pull(laptop) // the deletion arrives before the edit was sent
    expect(push(laptop, 'alice')).toMatchObject({ ok: true })
    expect(Buffer.from(Y.encodeStateAsUpdate(server)).toString('utf8')).not.toContain('fixed typo')
    expect(laptop.conversation.message(m.id)).toMatchObject({ deleted: true, text: '' })
  })
})

describe('message action write rules', () => {
  let m: string
  let alice: Device
  beforeEach(() => {
    alice = device('alice')
    m = alice.conversation.send('original').id
    roundTrip(alice)
  })

  const refusedWith = (update: Uint8Array, writer: Writer, expected: string) => {
    const before = Y.encodeStateAsUpdate(server)
    expect(checkUpdate(server, update, writer)).toMatchObject({ ok: false, code: expected })
    expect(Y.encodeStateAsUpdate(server)).toEqual(before)
  }

  it("refuses editing or deleting another member's message from one's own root", () => {
    refusedWith(
      updateFrom((doc) => doc.getMap('u:bob').set(`e|${m}`, { text: 'forged', editedAt: 1 })),
      as('bob'),
      'not-author',
    )
    refusedWith(
      updateFrom((doc) => doc.getMap('u:bob').set(`d|${m}`, { deletedAt: 1, createdAt: 1, to: [] })),
      as('bob'),
      'not-author',
    )
  })

  it("refuses touching another member's root: their message, edit or reactions (owners too)", () => {
    refusedWith(
      updateFrom((doc) => doc.getMap('u:alice').delete(`m|${m}`)),
      as('bob'),
      'forbidden-root',
    )
    refusedWith(
      updateFrom((doc) => doc.getMap('u:alice').set(`e|${m}`, { text: 'x', editedAt: 1 })),
      as('bob'),
      'forbidden-root',
    )
    refusedWith(
      updateFrom((doc) => doc.getMap('u:bob').set(`x|${m}|👍`, true)),
      as('alice'),
      'forbidden-root',
    )
    const bob = device('bob')
    bob.conversation.react(m, '👍')
    roundTrip(bob)
    refusedWith(
      updateFrom((doc) => doc.getMap('u:bob').delete(`x|${m}|👍`)),
      as('alice'),
      'forbidden-root',
    )
  })

  it('refuses resurrecting a deleted message: a new entry, or removing the marker', () => {
    alice.conversation.deleteForEveryone(m)
    roundTrip(alice)
    refusedWith(
      updateFrom((doc) => doc.getMap('u:alice').set(`m|${m}`, { id: m, text: 'back', createdAt: 1, to: [] })),
      as('alice'),
      'immutable',
    )
    // An edit crossing the deletion (another device of the author) is taken, never shown, and
    // dropped by the author's device once it sees the marker.
    const crossing = updateFrom((doc) =>
      doc.getMap('u:alice').set(`e|${m}`, { text: 'crossing', editedAt: 1 }),
    )
    expect(checkUpdate(server, crossing, as('alice'))).toMatchObject({ ok: true })
    applyCheckedUpdate(server, crossing)
    expect(new Conversation(server, { userId: 'carol' }).message(m)).toMatchObject({
      text: '',
      deleted: true,
    })
    const laptop = device('alice')
    expect(laptop.doc.getMap('u:alice').has(`e|${m}`)).toBe(false)
    expect(push(laptop, 'alice')).toMatchObject({ ok: true })
    expect(Buffer.from(Y.encodeStateAsUpdate(server)).toString('utf8')).not.toContain('crossing')
    refusedWith(
      updateFrom((doc) => doc.getMap('u:bob').set(`e|${m}`, { text: 'forged', editedAt: 1 })),
      as('bob'),
      'not-author',
    )
    refusedWith(
      updateFrom((doc) => doc.getMap('u:alice').delete(`d|${m}`)),
      as('alice'),
      'immutable',
    )
    // Another marker of the same message may take its place (two devices deleting it at once).
    const again = updateFrom((doc) =>
      doc.getMap('u:alice').set(`d|${m}`, { deletedAt: 2, createdAt: 1, to: [] }),
    )
    expect(checkUpdate(server, again, as('alice'))).toMatchObject({ ok: true })
  })

  it('refuses deleting a sent message without a marker (it would vanish, not become a tombstone)', () => {
    refusedWith(
      updateFrom((doc) => doc.getMap('u:alice').delete(`m|${m}`)),
      as('alice'),
      'immutable',
    )
  })

  it('refuses malformed and unbounded actions', () => {
    refusedWith(
      updateFrom((doc) => doc.getMap('u:bob').set(`x|${m}|👍`, 'yes')),
      as('bob'),
      'bad-shape',
    )
    refusedWith(
      updateFrom((doc) => doc.getMap('u:bob').set(`x|${m}|a b`, true)),
      as('bob'),
      'bad-shape',
    )
    refusedWith(
      updateFrom((doc) => doc.getMap('u:bob').set('x|nope|👍', true)),
      as('bob'),
      'unknown-message',
    )
    refusedWith(
      updateFrom((doc) => {
        for (const emoji of ['1', '2', '3', '4', '5', '6', '7', '8', '9'])
          doc.getMap('u:bob').set(`x|${m}|${emoji}`, true)
      }),
      as('bob'),
      'too-many-reactions',
    )
    refusedWith(
      updateFrom((doc) =>
        doc.getMap('u:alice').set(`e|${m}`, { text: 'x'.repeat(16 * 1024 + 1), editedAt: 1 }),
      ),
      as('alice'),
      'too-large',
    )
    refusedWith(
      updateFrom((doc) => doc.getMap('u:alice').set(`e|${m}`, { text: '' })),
      as('alice'),
      'bad-shape',
    )
    refusedWith(
      updateFrom((doc) =>
        doc
          .getMap('u:alice')
          .set('m|r1', { id: 'r1', text: 'hi', createdAt: 1, to: [], mentions: ['bob', 'alice'] }),
      ),
      as('alice'),
      'bad-shape',
    )
    refusedWith(
      updateFrom((doc) => doc.getMap('u:olga').set(`x|${m}|👍`, true)),
      as('olga'),
      'read-only',
    )
  })

  it('judges actions on sealed messages by the host’s sealed authors, and says when it does not know', () => {
    sealThrough(serverIndex, 1)
    // As a store loads it: the sealed entry compacted away, so the document no longer names its author.
    const loaded = new Y.Doc({ guid: 'c' })
    Y.applyUpdate(loaded, compactSealedEntries(server))
    const edit = updateFrom((doc) => doc.getMap('u:alice').set(`e|${m}`, { text: 'later', editedAt: 1 }))
    expect(checkUpdate(loaded, edit, as('alice'))).toMatchObject({ ok: false, code: 'unknown-message' })
    expect(checkUpdate(loaded, edit, as('alice', { sealedAuthorOf: () => undefined }))).toMatchObject({
      ok: false,
      code: 'unknown-message',
    })
    expect(checkUpdate(loaded, edit, as('alice', { sealedAuthorOf: () => null }))).toMatchObject({
      ok: false,
      code: 'unknown-message',
    })
    expect(checkUpdate(loaded, edit, as('alice', { sealedAuthorOf: () => 'alice' }))).toMatchObject({
      ok: true,
      edits: 1,
    })
    const forged = updateFrom((doc) => doc.getMap('u:bob').set(`e|${m}`, { text: 'later', editedAt: 1 }))
    expect(checkUpdate(loaded, forged, as('bob', { sealedAuthorOf: () => 'alice' }))).toMatchObject({
      ok: false,
      code: 'not-author',
    })
    const react = updateFrom((doc) => doc.getMap('u:bob').set(`x|${m}|👍`, true))
    expect(checkUpdate(loaded, react, as('bob', { sealedAuthorOf: () => 'alice' }))).toMatchObject({
      ok: true,
    })
  })
})

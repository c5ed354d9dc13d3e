import { beforeEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import {
  applyCheckedUpdate,
  Conversation,
  ConversationIndex,
  checkUpdate,
  initConversation,
  type Role,
  stampUnsequenced,
  type Writer,
} from '../src/index.js'

const MEMBERS: Record<string, Role> = { alice: 'owner', bob: 'member', olga: 'observer' }

let server: Y.Doc
let serverIndex: ConversationIndex

beforeEach(() => {
  server = new Y.Doc({ guid: 'c' })
  initConversation(server, { title: 'rules', members: MEMBERS })
  serverIndex = new ConversationIndex(server)
})

/** A replica of the server's doc; whatever `write` does becomes the update under test. */
function updateFrom(write: (doc: Y.Doc) => void): Uint8Array {
  const doc = new Y.Doc({ guid: 'c' })
  Y.applyUpdate(doc, Y.encodeStateAsUpdate(server))
  const before = Y.encodeStateVector(doc)
  write(doc)
  return Y.encodeStateAsUpdate(doc, before)
}

const as = (userId: string): Writer => ({ userId, role: MEMBERS[userId] })
const message = (id: string, text = 'hi') => ({ id, text, createdAt: 1, to: [] })

describe('write rules', () => {
  it('accepts a member writing a message and receipts under their own root', () => {
    const update = updateFrom((doc) => {
      const bob = new Conversation(doc, { userId: 'bob', replicaId: 'b1' })
      bob.send('hello')
    })
    expect(checkUpdate(server, update, as('bob'))).toMatchObject({
      ok: true,
      newStructs: 1,
      incomplete: false,
    })
  })

  it('refuses an announcement from a member, and a member message reusing an announcement id', () => {
    const forged = updateFrom((doc) => doc.getMap('system').set('m|a1', message('a1', 'evacuate')))
    expect(checkUpdate(server, forged, as('alice'))).toMatchObject({ ok: false, code: 'forbidden-root' })
    server.getMap('system').set('m|a1', message('a1', 'real announcement'))
    const reuse = updateFrom((doc) => doc.getMap('u:bob').set('m|a1', message('a1', 'mine now')))
    expect(checkUpdate(server, reuse, as('bob'))).toMatchObject({ ok: false, code: 'immutable' })
  })

  it('refuses, and stops on, an item that names itself as its origin (fuzz finding)', () => {
    // A receipt of a client the room does not know, its clock set to its origin's: (c, 0) → (c, 0).
    const update = Uint8Array.from(
      Buffer.from('0101bca4f8ce0a00a8bca4f8ce0a0001760201647d940201727d940201bca4f8ce0a010001', 'hex'),
    )
    const verdict = checkUpdate(server, update, as('bob'))
    expect(verdict).toMatchObject({ ok: false, closeCode: 4400 })
  })

  it('refuses a forged author: bob writing into alice’s root', () => {
    const update = updateFrom((doc) => doc.getMap('u:alice').set('m|forged', message('forged')))
    expect(checkUpdate(server, update, as('bob'))).toMatchObject({
      ok: false,
      code: 'forbidden-root',
      closeCode: 4403,
    })
  })

  it('refuses a forged author hidden behind an origin: overwriting alice’s entry', () => {
    applyCheckedUpdate(
      server,
      updateFrom((doc) => doc.getMap('u:alice').set('m|real', message('real'))),
    )
    // The overwrite carries no parent, only an origin pointing at alice's item.
    const update = updateFrom((doc) => doc.getMap('u:alice').set('m|real', message('real', 'edited')))
    expect(checkUpdate(server, update, as('bob'))).toMatchObject({ ok: false, closeCode: 4403 })
  })

  it('refuses receipts written for another user', () => {
    const update = updateFrom((doc) => doc.getMap('u:alice').set('r|x', { d: 0, r: 0 }))
    expect(checkUpdate(server, update, as('bob'))).toMatchObject({ ok: false, closeCode: 4403 })
  })

  it('refuses any write to the server order log', () => {
    const update = updateFrom((doc) => doc.getArray('server').push(['fake']))
    expect(checkUpdate(server, update, as('alice'))).toMatchObject({
      ok: false,
      code: 'forbidden-root',
      closeCode: 4403,
    })
  })

  it('lets owners, and only owners, change meta', () => {
    const update = updateFrom((doc) => doc.getMap('meta').set('title', 'renamed'))
    expect(checkUpdate(server, update, as('bob'))).toMatchObject({ ok: false, closeCode: 4403 })
    expect(checkUpdate(server, update, as('alice'))).toMatchObject({ ok: true })
  })

  it('refuses non-members and observers', () => {
    const own = (userId: string) => updateFrom((doc) => doc.getMap(`u:${userId}`).set('m|a', message('a')))
    expect(checkUpdate(server, own('mallory'), { userId: 'mallory', role: undefined })).toMatchObject({
      ok: false,
      code: 'not-a-member',
      closeCode: 4403,
    })
    expect(checkUpdate(server, own('olga'), as('olga'))).toMatchObject({
      ok: false,
      code: 'read-only',
      closeCode: 4403,
    })
  })

  it('lets an observer send only entries it made and discarded (a member demoted while offline)', () => {
    const discarded = updateFrom((doc) => {
      doc.getMap('u:olga').set('m|a', message('a'))
      doc.getMap('u:olga').delete('m|a')
    })
    expect(checkUpdate(server, discarded, as('olga'))).toMatchObject({ ok: true, newStructs: 1 })
    const another = updateFrom((doc) => {
      doc.getMap('u:olga').set('m|a', message('a'))
      doc.getMap('u:olga').delete('m|a')
      doc.getMap('u:olga').set('m|b', message('b'))
    })
    expect(checkUpdate(server, another, as('olga'))).toMatchObject({ ok: false, code: 'read-only' })
  })

  it('refuses oversized text with 4413 and malformed messages with 4400', () => {
    const big = updateFrom((doc) =>
      doc.getMap('u:bob').set('m|big', message('big', 'x'.repeat(16 * 1024 + 1))),
    )
    expect(checkUpdate(server, big, as('bob'))).toMatchObject({
      ok: false,
      code: 'too-large',
      closeCode: 4413,
    })
    const mismatched = updateFrom((doc) => doc.getMap('u:bob').set('m|a', message('b')))
    expect(checkUpdate(server, mismatched, as('bob'))).toMatchObject({ ok: false, code: 'bad-shape' })
    const unknownKey = updateFrom((doc) => doc.getMap('u:bob').set('x|a', 1))
    expect(checkUpdate(server, unknownKey, as('bob'))).toMatchObject({ ok: false, code: 'forbidden-key' })
    const nested = updateFrom((doc) => doc.getMap('u:bob').set('m|n', new Y.Map()))
    expect(checkUpdate(server, nested, as('bob'))).toMatchObject({ ok: false, closeCode: 4400 })
  })

  it('refuses garbage bytes as malformed', () => {
    const garbage = new Uint8Array([255, 255, 255, 255, 255, 1, 2, 3])
    expect(checkUpdate(server, garbage, as('bob'))).toMatchObject({
      ok: false,
      code: 'malformed',
      closeCode: 4400,
    })
  })

  it("refuses a message id another author's root already holds", () => {
    applyCheckedUpdate(
      server,
      updateFrom((doc) => doc.getMap('u:alice').set('m|a', message('a'))),
    )
    const claim = updateFrom((doc) => doc.getMap('u:bob').set('m|a', message('a', 'mine now')))
    expect(checkUpdate(server, claim, as('bob'))).toMatchObject({ ok: false, code: 'immutable' })
  })

  it('names the ids an update takes (its message ids and Yjs client ids), and none for a re-send', () => {
    let client = 0
    const update = updateFrom((doc) => {
      client = doc.clientID
      doc.transact(() => {
        doc.getMap('u:bob').set('m|one', message('one'))
        doc.getMap('u:bob').set('r|b1', { d: 0, r: 0 })
      })
    })
    const verdict = checkUpdate(server, update, as('bob'))
    expect(verdict).toMatchObject({ ok: true })
    const claims = verdict.ok ? verdict.claims : []
    expect(claims).toContainEqual({ key: `c|${client}`, holder: 'bob' })
    expect(claims).toContainEqual({
      key: 'm|one',
      holder: expect.stringMatching(new RegExp(`^bob ${client}:\\d+$`)),
    })
    expect(claims).toHaveLength(2)
    applyCheckedUpdate(server, update)
    expect(checkUpdate(server, update, as('bob'))).toMatchObject({ ok: true, newStructs: 0, claims: [] })
  })

  it("refuses structs under a Yjs client id that writes another user's entries", () => {
    const alice = new Y.Doc({ guid: 'c' })
    Y.applyUpdate(alice, Y.encodeStateAsUpdate(server))
    const before = Y.encodeStateVector(alice)
    alice.getMap('u:alice').set('m|a', message('a'))
    applyCheckedUpdate(server, Y.encodeStateAsUpdate(alice, before))
    const squat = updateFrom((doc) => {
      doc.clientID = alice.clientID
      doc.getMap('u:bob').set('r|x', { d: 0, r: 0 })
    })
    expect(checkUpdate(server, squat, as('bob'))).toMatchObject({
      ok: false,
      code: 'foreign-client',
      closeCode: 4403,
    })
    // A client id new to the document is refused only when the host says another user has it.
    const fresh = updateFrom((doc) => doc.getMap('u:bob').set('r|x', { d: 0, r: 0 }))
    expect(checkUpdate(server, fresh, as('bob'))).toMatchObject({ ok: true })
    expect(checkUpdate(server, fresh, { ...as('bob'), clientClaimedByOther: () => true })).toMatchObject({
      ok: false,
      code: 'foreign-client',
    })
  })

  it('refuses an update that names one client twice (Yjs would integrate only the last run)', () => {
    const bob = new Y.Doc({ guid: 'c' })
    Y.applyUpdate(bob, Y.encodeStateAsUpdate(server))
    const runs: Uint8Array[] = []
    bob.on('update', (update: Uint8Array) => runs.push(update))
    bob.getMap('u:bob').set('r|a', { d: 0, r: 0 })
    bob.getMap('u:bob').set('r|b', { d: 0, r: 0 })
    // Each update is [1 client run, …run…, empty delete set]: splice the two runs into one update.
    const body = (update: Uint8Array) => update.slice(1, -1)
    const crafted = new Uint8Array([2, ...body(runs[0]!), ...body(runs[1]!), 0])
    expect(checkUpdate(server, crafted, as('bob'))).toMatchObject({ ok: false, code: 'malformed' })
    expect(checkUpdate(server, Y.mergeUpdates(runs), as('bob'))).toMatchObject({ ok: true, newStructs: 2 })
  })

  it('keeps messages immutable once the room holds them', () => {
    applyCheckedUpdate(
      server,
      updateFrom((doc) => doc.getMap('u:bob').set('m|a', message('a'))),
    )
    const edit = updateFrom((doc) => doc.getMap('u:bob').set('m|a', message('a', 'changed')))
    expect(checkUpdate(server, edit, as('bob'))).toMatchObject({ ok: false, code: 'immutable' })
  })

  it('lets a receipt only rise, and never past the order log', () => {
    applyCheckedUpdate(
      server,
      updateFrom((doc) => doc.getMap('u:bob').set('m|a', message('a'))),
    )
    stampUnsequenced(serverIndex)
    const ahead = updateFrom((doc) => doc.getMap('u:bob').set('r|b1', { d: 5, r: 0 }))
    expect(checkUpdate(server, ahead, as('bob'))).toMatchObject({ ok: false, code: 'receipt-ahead' })
    applyCheckedUpdate(
      server,
      updateFrom((doc) => doc.getMap('u:bob').set('r|b1', { d: 1, r: 1 })),
    )
    const lower = updateFrom((doc) => doc.getMap('u:bob').set('r|b1', { d: 1, r: 0 }))
    expect(checkUpdate(server, lower, as('bob'))).toMatchObject({ ok: false, code: 'receipt-lowered' })
    const dropped = updateFrom((doc) => doc.getMap('u:bob').delete('r|b1'))
    expect(checkUpdate(server, dropped, as('bob'))).toMatchObject({ ok: false, code: 'receipt-lowered' })
  })

  it('refuses deleting another user’s message, allows discarding one’s own', () => {
    applyCheckedUpdate(
      server,
      updateFrom((doc) => doc.getMap('u:alice').set('m|a', message('a'))),
    )
    const theirs = updateFrom((doc) => doc.getMap('u:alice').delete('m|a'))
    expect(checkUpdate(server, theirs, as('bob'))).toMatchObject({ ok: false, closeCode: 4403 })
    expect(checkUpdate(server, theirs, as('alice'))).toMatchObject({ ok: true, deletions: 1 })
  })

  it('treats re-sends as nothing new, and gaps as incomplete rather than wrong', () => {
    const doc = new Y.Doc({ guid: 'c' })
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(server))
    const updates: Uint8Array[] = []
    doc.on('update', (update: Uint8Array) => updates.push(update))
    doc.getMap('u:bob').set('m|a', message('a'))
    doc.getMap('u:bob').set('m|b', message('b'))
    expect(checkUpdate(server, updates[1]!, as('bob'))).toMatchObject({ ok: true, incomplete: true })
    applyCheckedUpdate(server, updates[0]!)
    expect(checkUpdate(server, updates[0]!, as('bob'))).toMatchObject({ ok: true, newStructs: 0 })
    // Whoever relays it, a struct the room already holds changes nothing.
    expect(checkUpdate(server, updates[0]!, as('alice'))).toMatchObject({ ok: true, newStructs: 0 })
    expect(checkUpdate(server, updates[1]!, as('bob'))).toMatchObject({ ok: true, incomplete: false })
  })

  it('ignores, and never applies, deletions of items the room does not hold', () => {
    const alice = new Y.Doc({ guid: 'c' })
    Y.applyUpdate(alice, Y.encodeStateAsUpdate(server))
    alice.getMap('u:alice').set('m|secret', message('secret'))
    // Bob somehow learned alice's future item id and deletes it before the server has it.
    const bob = new Y.Doc({ guid: 'c' })
    Y.applyUpdate(bob, Y.encodeStateAsUpdate(server))
    Y.applyUpdate(bob, Y.encodeStateAsUpdate(alice))
    const before = Y.encodeStateVector(bob)
    bob.getMap('u:alice').delete('m|secret')
    const sneaky = Y.encodeStateAsUpdate(bob, before)
    const deleteOnly = Y.mergeUpdates([sneaky])
    const verdict = checkUpdate(server, deleteOnly, as('bob'))
    expect(verdict).toMatchObject({ ok: true, unknownDeletions: 1 })
    applyCheckedUpdate(server, deleteOnly)
    applyCheckedUpdate(server, Y.encodeStateAsUpdate(alice, Y.encodeStateVector(server)))
    expect(server.getMap('u:alice').get('m|secret')).toEqual(message('secret'))
  })
})

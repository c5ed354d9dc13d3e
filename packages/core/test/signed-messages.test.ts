import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import {
  applyCheckedUpdate,
  Conversation,
  checkUpdate,
  compactSealedEntries,
  editSignatureKey,
  generateSigningKey,
  type HistoryMessage,
  initConversation,
  keyRecordKey,
  type Message,
  MessageVerifier,
  type Role,
  revokeKey,
  type SealedMessage,
  type SigningKey,
  sealThrough,
  signatureKey,
  signEdit,
  signMessage,
  signPayload,
  stampUnsequenced,
  verifyPayload,
  type Writer,
} from '../src/index.js'

const MEMBERS: Record<string, Role> = { alice: 'owner', bob: 'member', mallory: 'member' }
const as = (userId: string): Writer => ({ userId, role: MEMBERS[userId] })
const sync = (from: Y.Doc, to: Y.Doc) =>
  Y.applyUpdate(to, Y.encodeStateAsUpdate(from, Y.encodeStateVector(to)))

const verifiers: MessageVerifier[] = []
afterEach(() => {
  for (const verifier of verifiers.splice(0)) verifier.destroy()
})
const verifierOf = (doc: Y.Doc, options?: ConstructorParameters<typeof MessageVerifier>[1]) => {
  const verifier = new MessageVerifier(doc, options)
  verifiers.push(verifier)
  return verifier
}

/** A conversation with alice's signed message in it, as the server relays it to bob. */
async function signedConversation(guid = 'c') {
  const server = new Y.Doc({ guid })
  initConversation(server, { title: 'signed', members: MEMBERS })
  const aliceDoc = new Y.Doc({ guid })
  sync(server, aliceDoc)
  const alice = new Conversation(aliceDoc, { userId: 'alice' })
  const key = await generateSigningKey()
  const message = alice.send('Noon at the usual place?')
  expect(await signMessage(aliceDoc, 'alice', message, key, alice)).toBe('signed')
  const bobDoc = new Y.Doc({ guid })
  sync(aliceDoc, bobDoc)
  return { server, aliceDoc, alice, key, message, bobDoc }
}

/** What a recipient reads of a message (a `Message` carries these). */
const shown = (doc: Y.Doc, author: string, id: string) => {
  const record = doc.getMap(`u:${author}`).get(`m|${id}`) as { id: string; text: string; createdAt: number }
  return { id: record.id, author, text: record.text, createdAt: record.createdAt }
}

describe('signatures', () => {
  it('verify only the exact payload: text, author, id, conversation, time and kind each count', async () => {
    const key = await generateSigningKey()
    const payload = {
      kind: 'message' as const,
      conversationId: 'c',
      messageId: 'm1',
      author: 'alice',
      text: 'hi',
      createdAt: 5,
    }
    const sig = await signPayload(key.privateKey, payload)
    expect(sig).toMatch(/^[A-Za-z0-9_-]{86}$/)
    expect(await verifyPayload(key.publicKey, sig, payload)).toBe(true)
    for (const tampered of [
      { ...payload, text: 'hi!' },
      { ...payload, author: 'mallory' },
      { ...payload, messageId: 'm2' },
      { ...payload, conversationId: 'd' },
      { ...payload, createdAt: 6 },
    ]) {
      expect(await verifyPayload(key.publicKey, sig, tampered)).toBe(false)
    }
    const { createdAt, ...rest } = payload
    const asEdit = { ...rest, kind: 'edit' as const, editedAt: createdAt }
    expect(await verifyPayload(key.publicKey, sig, asEdit)).toBe(false)
    const other = await generateSigningKey()
    expect(await verifyPayload(other.publicKey, sig, payload)).toBe(false)
    expect(await verifyPayload('not a key', sig, payload)).toBe(false)
    expect(await verifyPayload(key.publicKey, 'AAAA', payload)).toBe(false)
  })

  it('keep the private key non-extractable', async () => {
    const key = await generateSigningKey()
    expect(key.privateKey.extractable).toBe(false)
    await expect(crypto.subtle.exportKey('pkcs8', key.privateKey)).rejects.toThrow()
  })
})

describe('MessageVerifier', () => {
  it('verifies a signed message on the recipient, and caches the answer', async () => {
    const { bobDoc, message } = await signedConversation()
    const verifier = verifierOf(bobDoc)
    const seen = shown(bobDoc, 'alice', message.id)
    expect(verifier.verification(seen)).toBe('checking')
    expect(await verifier.verify(seen)).toBe('verified')
    expect(verifier.verification(seen)).toBe('verified')
  })

  it('shows a message tampered on the way (text, author, id, conversation) as unverified', async () => {
    const { bobDoc, message } = await signedConversation()
    const alice = bobDoc.getMap('u:alice')
    const record = alice.get(`m|${message.id}`) as object
    const signature = alice.get(signatureKey(message.id))
    const keyRecords = [...alice.entries()].filter(([key]) => key.startsWith('k|'))

    // Text: a relay that rewrites the record keeps the signature beside it.
    const textDoc = new Y.Doc({ guid: 'c' })
    sync(bobDoc, textDoc)
    textDoc.getMap('u:alice').set(`m|${message.id}`, { ...record, text: 'Midnight, come alone' })
    expect(await verifierOf(textDoc).verify(shown(textDoc, 'alice', message.id))).toBe('unverified')

    // Author: mallory replays alice's message, signature and key under her own root.
    const authorDoc = new Y.Doc({ guid: 'c' })
    const mallory = authorDoc.getMap('u:mallory')
    mallory.set('m|copy', { ...record, id: 'copy' })
    mallory.set(signatureKey('copy'), signature)
    for (const [key, value] of keyRecords) mallory.set(key, value)
    expect(await verifierOf(authorDoc).verify(shown(authorDoc, 'mallory', 'copy'))).toBe('unverified')

    // Id: the same author, text and signature under another message id.
    const idDoc = new Y.Doc({ guid: 'c' })
    sync(bobDoc, idDoc)
    idDoc.getMap('u:alice').set('m|other', { ...record, id: 'other' })
    idDoc.getMap('u:alice').set(signatureKey('other'), signature)
    expect(await verifierOf(idDoc).verify(shown(idDoc, 'alice', 'other'))).toBe('unverified')

    // Conversation: everything replayed, byte for byte, into another conversation.
    const elsewhere = new Y.Doc({ guid: 'd' })
    Y.applyUpdate(elsewhere, Y.encodeStateAsUpdate(bobDoc))
    expect(await verifierOf(elsewhere).verify(shown(elsewhere, 'alice', message.id))).toBe('unverified')

    // The untouched copy still verifies.
    expect(await verifierOf(bobDoc).verify(shown(bobDoc, 'alice', message.id))).toBe('verified')
  })

  it('says unknown-key, never verified, for a signature by a key the author does not publish', async () => {
    const { bobDoc, message } = await signedConversation()
    const forged = new Y.Doc({ guid: 'c' })
    sync(bobDoc, forged)
    const alice = forged.getMap('u:alice')
    for (const key of [...alice.keys()]) if (key.startsWith('k|')) alice.delete(key)
    expect(await verifierOf(forged).verify(shown(forged, 'alice', message.id))).toBe('unknown-key')
    // Another member's key of the same id does not count: keys are looked up in the author's root.
    const { key } = await signedConversation()
    forged.getMap('u:mallory').set(keyRecordKey(key.keyId), { publicKey: key.publicKey, createdAt: 1 })
    expect(verifierOf(forged).verification(shown(forged, 'alice', message.id))).toBe('unknown-key')
  })

  it('keeps old messages verified across a rotation, and unverifies every message of a revoked key', async () => {
    const { aliceDoc, alice, key: first, message: old, bobDoc } = await signedConversation()
    const second = await generateSigningKey()
    const fresh = alice.send('New key, same me')
    expect(await signMessage(aliceDoc, 'alice', fresh, second, alice)).toBe('signed')
    sync(aliceDoc, bobDoc)
    const verifier = verifierOf(bobDoc)
    expect(await verifier.verify(shown(bobDoc, 'alice', old.id))).toBe('verified')
    expect(await verifier.verify(shown(bobDoc, 'alice', fresh.id))).toBe('verified')

    let changes = 0
    verifier.onChange(() => changes++)
    expect(revokeKey(aliceDoc, 'alice', first.keyId, 10, alice)).toBe(true)
    expect(revokeKey(aliceDoc, 'alice', first.keyId, 11, alice)).toBe(false)
    sync(aliceDoc, bobDoc)
    await Promise.resolve()
    expect(changes).toBeGreaterThan(0)
    expect(verifier.verification(shown(bobDoc, 'alice', old.id))).toBe('unverified')
    expect(verifier.verification(shown(bobDoc, 'alice', fresh.id))).toBe('verified')
    // The revoked key signs nothing more here.
    const late = alice.send('with the lost key')
    expect(await signMessage(aliceDoc, 'alice', late, first, alice)).toBe('key-revoked')
  })

  it('shows a fresh unsigned message as checking, then unverified once its signature is overdue', async () => {
    const server = new Y.Doc({ guid: 'c' })
    initConversation(server, { title: 't', members: MEMBERS })
    let now = 1_000_000
    const stock = new Conversation(server, { userId: 'bob', now: () => now })
    const plain = stock.send('from a stock y-websocket client')
    const verifier = verifierOf(server, { now: () => now, signatureGraceMs: 30 })
    expect(verifier.verification(plain)).toBe('checking')
    const changed = new Promise<void>((resolve) => verifier.onChange(resolve))
    now += 31
    await changed
    expect(verifier.verification(plain)).toBe('unverified')
    expect(await verifier.verify(plain)).toBe('unverified')
  })

  it('tells listeners when a signature arrives behind its message', async () => {
    const { aliceDoc, alice } = await signedConversation()
    const bobDoc = new Y.Doc({ guid: 'c' })
    sync(aliceDoc, bobDoc)
    const message = alice.send('signed a moment later')
    sync(aliceDoc, bobDoc)
    const verifier = verifierOf(bobDoc)
    expect(verifier.verification(message)).toBe('checking')
    // verify() waits for a fresh message's signature rather than answering unverified.
    const answer = verifier.verify(message)
    const key = await generateSigningKey()
    await signMessage(aliceDoc, 'alice', message, key, alice)
    const answered = new Promise<void>((resolve) =>
      verifier.onChange(() => {
        if (verifier.verification(message) === 'verified') resolve()
      }),
    )
    sync(aliceDoc, bobDoc)
    await answered
    expect(await answer).toBe('verified')
  })

  it('counts announcements as the server’s: its own root stands for the signature', async () => {
    const doc = new Y.Doc({ guid: 'c' })
    const verifier = verifierOf(doc)
    const announcement = {
      id: 'a1',
      author: ':system',
      text: 'Drill at 3',
      createdAt: 1,
      announcement: true as const,
    }
    expect(verifier.verification(announcement)).toBe('verified')
  })
})

describe('write rules for signed messages', () => {
  async function setup() {
    const server = new Y.Doc({ guid: 'c' })
    initConversation(server, { title: 'rules', members: MEMBERS })
    const key = await generateSigningKey()
    /** Whatever `write` does on a replica of the server's doc becomes the update under test. */
    const updateFrom = (write: (doc: Y.Doc) => void): Uint8Array => {
      const doc = new Y.Doc({ guid: 'c' })
      Y.applyUpdate(doc, Y.encodeStateAsUpdate(server))
      const before = Y.encodeStateVector(doc)
      write(doc)
      return Y.encodeStateAsUpdate(doc, before)
    }
    const accept = (update: Uint8Array, writer = as('alice')) => {
      expect(checkUpdate(server, update, writer)).toMatchObject({ ok: true })
      applyCheckedUpdate(server, update)
    }
    return { server, key, updateFrom, accept }
  }
  const record = (key: SigningKey) => ({ publicKey: key.publicKey, createdAt: key.createdAt })

  it('accepts a signed message with its key, and refuses malformed key records and signatures (4400)', async () => {
    const { server, key, updateFrom, accept } = await setup()
    const signed = updateFrom((doc) => {
      const alice = new Conversation(doc, { userId: 'alice' })
      const message = alice.send('hi')
      doc.getMap('u:alice').set(keyRecordKey(key.keyId), record(key))
      doc.getMap('u:alice').set(signatureKey(message.id), { key: key.keyId, sig: 'A'.repeat(86) })
    })
    accept(signed)
    const malformed: unknown[][] = [
      [keyRecordKey('k1'), { publicKey: 'short', createdAt: 1 }],
      [keyRecordKey('k1'), { publicKey: key.publicKey }],
      [keyRecordKey('k1'), { ...record(key), extra: 'unsigned channel' }],
      [keyRecordKey('k1'), { ...record(key), revokedAt: 'yesterday' }],
      [keyRecordKey('bad id!'), record(key)],
      [signatureKey('m9'), { key: key.keyId, sig: 'A'.repeat(85) }],
      [signatureKey('m9'), { key: key.keyId, sig: `${'A'.repeat(85)}B` }],
      [signatureKey('m9'), { key: 'bad id!', sig: 'A'.repeat(86) }],
      [signatureKey('m9'), 'A'.repeat(86)],
      [signatureKey('m9'), { key: key.keyId, sig: 'A'.repeat(86), note: 'x' }],
    ]
    for (const [entry, value] of malformed) {
      const update = updateFrom((doc) => doc.getMap('u:alice').set(entry as string, value))
      expect(checkUpdate(server, update, as('alice')), String(entry)).toMatchObject({
        ok: false,
        code: 'bad-shape',
        closeCode: 4400,
      })
    }
    // In another member's root the root rule refuses first.
    const foreign = updateFrom((doc) => doc.getMap('u:bob').set(keyRecordKey('k2'), record(key)))
    expect(checkUpdate(server, foreign, as('alice'))).toMatchObject({ ok: false, code: 'forbidden-root' })
  })

  it('keeps a key immutable but for its revocation, and never lets a revoked key back', async () => {
    const { server, key, updateFrom, accept } = await setup()
    accept(updateFrom((doc) => doc.getMap('u:alice').set(keyRecordKey(key.keyId), record(key))))
    // The same record again (two tabs publishing their shared key) is fine.
    accept(updateFrom((doc) => doc.getMap('u:alice').set(keyRecordKey(key.keyId), record(key))))
    const other = await generateSigningKey()
    const swapped = updateFrom((doc) =>
      doc.getMap('u:alice').set(keyRecordKey(key.keyId), { ...record(key), publicKey: other.publicKey }),
    )
    expect(checkUpdate(server, swapped, as('alice'))).toMatchObject({ ok: false, code: 'immutable' })
    const deleted = updateFrom((doc) => doc.getMap('u:alice').delete(keyRecordKey(key.keyId)))
    expect(checkUpdate(server, deleted, as('alice'))).toMatchObject({ ok: false, code: 'immutable' })

    // Two devices revoke concurrently: both are accepted.
    const fromLaptop = updateFrom((doc) => revokeKey(doc, 'alice', key.keyId, 10, null))
    const fromPhone = updateFrom((doc) => revokeKey(doc, 'alice', key.keyId, 11, null))
    accept(fromLaptop)
    accept(fromPhone)
    const back = updateFrom((doc) => doc.getMap('u:alice').set(keyRecordKey(key.keyId), record(key)))
    expect(checkUpdate(server, back, as('alice'))).toMatchObject({
      ok: false,
      code: 'immutable',
      reason: 'a revoked key cannot come back',
    })
  })

  it('writes a signature once', async () => {
    const { server, key, updateFrom, accept } = await setup()
    const sig = { key: key.keyId, sig: 'A'.repeat(86) }
    accept(updateFrom((doc) => doc.getMap('u:alice').set(signatureKey('m1'), sig)))
    const again = updateFrom((doc) =>
      doc.getMap('u:alice').set(signatureKey('m1'), { ...sig, sig: 'Q'.repeat(86) }),
    )
    expect(checkUpdate(server, again, as('alice'))).toMatchObject({ ok: false, code: 'immutable' })
  })
})

describe('signatures across sealing (issue 15) and edits (issue 17)', () => {
  /** Alice's signed messages, stamped by the server; `sealThrough` then seals the oldest. */
  async function sealedSetup(count: number) {
    const server = new Y.Doc({ guid: 'c' })
    initConversation(server, { title: 'sealed', members: MEMBERS })
    const serverIndex = new Conversation(server, { userId: 'server-view' }).conversationIndex
    const aliceDoc = new Y.Doc({ guid: 'c' })
    sync(server, aliceDoc)
    const alice = new Conversation(aliceDoc, { userId: 'alice' })
    const key = await generateSigningKey()
    const sent = []
    for (let i = 0; i < count; i++) {
      const message = alice.send(`signed ${i}`)
      expect(await signMessage(aliceDoc, 'alice', message, key, alice)).toBe('signed')
      sent.push(message)
    }
    sync(aliceDoc, server)
    stampUnsequenced(serverIndex)
    sync(server, aliceDoc)
    return { server, serverIndex, aliceDoc, alice, key, sent }
  }
  /** A member's fresh replica loading the live document as a server serves it. */
  const freshReplica = (server: Y.Doc, userId: string) => {
    const doc = new Y.Doc({ guid: 'c' })
    Y.applyUpdate(doc, compactSealedEntries(server))
    const conversation = new Conversation(doc, { userId })
    const verifier = verifierOf(doc, {
      sealedSignatureOf: (id) => conversation.conversationIndex.history.get(id)?.signature,
      signatureGraceMs: 0,
    })
    return { doc, conversation, verifier }
  }
  const historyOf = (sealed: SealedMessage[]): HistoryMessage[] =>
    sealed.map(({ record, author, seq, signature }) => ({
      ...record,
      author,
      seq,
      ...(signature && { signature }),
    }))

  it('the seal moves each signature out of the live document into the sealed record', async () => {
    const { server, serverIndex, sent } = await sealedSetup(4)
    const sealed = sealThrough(serverIndex, 3)
    expect(sealed.map((m) => m.record.id)).toEqual(sent.slice(0, 3).map((m) => m.id))
    for (const { signature } of sealed) expect(signature).toMatchObject({ sig: expect.any(String) })
    const root = server.getMap('u:alice')
    for (const message of sent.slice(0, 3)) expect(root.has(signatureKey(message.id))).toBe(false)
    // The window keeps its own; the key stays (bounded by devices, not history).
    expect(root.has(signatureKey(sent[3]!.id))).toBe(true)
    expect([...root.keys()].filter((key) => key.startsWith('k|'))).toHaveLength(1)
  })

  it('verifies a paged-in sealed message from its record, and a tampered or unsigned record not', async () => {
    const { server, serverIndex, aliceDoc, alice } = await sealedSetup(3)
    const history = historyOf(sealThrough(serverIndex, 2))
    // A replica that held them when they were sealed keeps their signatures with its sealed copies.
    sync(server, aliceDoc)
    const aliceIndex = alice.conversationIndex
    const held = verifierOf(aliceDoc, { sealedSignatureOf: (id) => aliceIndex.history.get(id)?.signature })
    const bob = freshReplica(server, 'bob')
    bob.conversation.addHistory(history)
    const carol = freshReplica(server, 'carol')
    carol.conversation.addHistory([
      { ...history[0]!, text: 'rewritten in the store' },
      (({ signature: _, ...unsigned }) => unsigned)(history[1]!),
    ])
    const [first, second] = bob.conversation.messages()
    expect(first!.seq).toBe(1)
    expect(await bob.verifier.verify(first!)).toBe('verified')
    expect(await bob.verifier.verify(second!)).toBe('verified')
    expect(await held.verify(first!)).toBe('verified')
    const [tampered, unsigned] = carol.conversation.messages()
    expect(tampered!.text).toBe('rewritten in the store')
    expect(await carol.verifier.verify(tampered!)).toBe('unverified')
    expect(await carol.verifier.verify(unsigned!)).toBe('unverified')
    // A record's signature by a key nobody published here is never trusted.
    const dave = freshReplica(server, 'bob')
    dave.conversation.addHistory([
      { ...history[0]!, signature: { key: 'nokey', sig: history[0]!.signature!.sig } },
    ])
    expect(await dave.verifier.verify(dave.conversation.messages()[0]!)).toBe('unknown-key')
  })

  it('verifies an edit from its latest signature; a tampered or stale one is unverified', async () => {
    const { aliceDoc, alice, key, sent } = await sealedSetup(1)
    const id = sent[0]!.id
    alice.edit(id, 'edited once')
    expect(await signEdit(aliceDoc, 'alice', id, key, alice)).toBe('signed')
    expect(await signEdit(aliceDoc, 'alice', id, key, alice)).toBe('skipped') // signed already
    const bobDoc = new Y.Doc({ guid: 'c' })
    sync(aliceDoc, bobDoc)
    const bob = new Conversation(bobDoc, { userId: 'bob' })
    const verifier = verifierOf(bobDoc)
    const edited = bob.message(id)
    expect(edited).toMatchObject({ text: 'edited once', edited: { at: expect.any(Number) } })
    expect(await verifier.verify(edited)).toBe('verified')
    expect(await verifier.verify({ ...edited, text: 'edited on the way' })).toBe('unverified')
    const noGrace = verifierOf(bobDoc, { signatureGraceMs: 0 })
    expect(await noGrace.verify({ ...edited, edited: { at: edited.edited!.at + 1 } })).toBe('unverified')
    // The original signature does not stand for an edit.
    expect(await verifier.verify({ ...edited, edited: undefined })).toBe('unverified')

    // A second edit whose signature has not arrived: checking within the grace, then unverified.
    alice.edit(id, 'edited twice')
    sync(aliceDoc, bobDoc)
    const stale = bob.message(id)
    expect(verifier.verification(stale)).toBe('checking')
    expect(await noGrace.verify(stale)).toBe('unverified')
    const answer = verifier.verify(stale)
    expect(await signEdit(aliceDoc, 'alice', id, key, alice)).toBe('signed')
    sync(aliceDoc, bobDoc)
    expect(await answer).toBe('verified')
  })

  describe('write rules', () => {
    async function rulesSetup() {
      const { server, serverIndex, aliceDoc, alice, key, sent } = await sealedSetup(2)
      const updateFrom = (write: (doc: Y.Doc, conversation: Conversation) => void): Uint8Array => {
        const doc = new Y.Doc({ guid: 'c' })
        Y.applyUpdate(doc, Y.encodeStateAsUpdate(server))
        const conversation = new Conversation(doc, { userId: 'alice' })
        const before = Y.encodeStateVector(doc)
        write(doc, conversation)
        return Y.encodeStateAsUpdate(doc, before)
      }
      const verdict = (update: Uint8Array) => checkUpdate(server, update, as('alice'))
      const accept = (update: Uint8Array) => {
        expect(verdict(update)).toMatchObject({ ok: true })
        applyCheckedUpdate(server, update)
      }
      return { server, serverIndex, aliceDoc, alice, key, sent, updateFrom, verdict, accept }
    }
    const sig = (key: SigningKey, editedAt?: number) => ({
      key: key.keyId,
      sig: 'A'.repeat(86),
      ...(editedAt !== undefined && { editedAt }),
    })

    it('refuses deleting or rewriting a signature; it leaves only with its message', async () => {
      const { server, serverIndex, key, sent, updateFrom, verdict, accept } = await rulesSetup()
      const [first, second] = sent as [Message, Message]
      const alone = updateFrom((doc) => doc.getMap('u:alice').delete(signatureKey(first.id)))
      expect(verdict(alone)).toMatchObject({ ok: false, code: 'immutable', closeCode: 4400 })
      const rewritten = updateFrom((doc) => {
        doc.getMap('u:alice').set(signatureKey(first.id), { ...sig(key), sig: 'Q'.repeat(86) })
      })
      expect(verdict(rewritten)).toMatchObject({ ok: false, code: 'immutable' })
      // Deleted for everyone: the signature goes in the same write, and is never written again.
      accept(updateFrom((_, alice) => alice.deleteForEveryone(first.id)))
      expect(server.getMap('u:alice').has(signatureKey(first.id))).toBe(false)
      const again = updateFrom((doc) => doc.getMap('u:alice').set(signatureKey(first.id), sig(key)))
      expect(verdict(again)).toMatchObject({ ok: false, code: 'immutable' })
      // Sealed (the sequencer's own write): gone from the document, and not to be written again.
      sealThrough(serverIndex, 2)
      expect(server.getMap('u:alice').has(signatureKey(second.id))).toBe(false)
      const resealed = updateFrom((doc) => doc.getMap('u:alice').set(signatureKey(second.id), sig(key)))
      expect(verdict(resealed)).toMatchObject({ ok: false, code: 'immutable' })
      // A discard of an unsent message takes its signature in the same update.
      const unsent = updateFrom((doc, alice) => {
        const message = alice.send('never sent')
        doc.getMap('u:alice').set(signatureKey(message.id), sig(key))
      })
      accept(unsent)
      const pendingId = [...server.getMap('u:alice').keys()].find(
        (k) => k.startsWith('m|') && !k.endsWith(first.id) && !k.endsWith(second.id),
      )!
      const id = pendingId.slice(2)
      expect(verdict(updateFrom((doc) => doc.getMap('u:alice').delete(signatureKey(id))))).toMatchObject({
        ok: false,
        code: 'immutable',
      })
      accept(
        updateFrom((doc) => {
          doc.getMap('u:alice').delete(`m|${id}`)
          doc.getMap('u:alice').delete(signatureKey(id))
        }),
      )
    })

    it('replaces an edit signature only with a newer edit’s, and drops it only with its message', async () => {
      const { server, key, sent, updateFrom, verdict, accept } = await rulesSetup()
      const id = sent[0]!.id
      const seenAt10 = new Y.Doc({ guid: 'c' })
      accept(updateFrom((doc) => doc.getMap('u:alice').set(editSignatureKey(id), sig(key, 10))))
      Y.applyUpdate(seenAt10, Y.encodeStateAsUpdate(server))
      accept(updateFrom((doc) => doc.getMap('u:alice').set(editSignatureKey(id), sig(key, 20))))
      const older = updateFrom((doc) => doc.getMap('u:alice').set(editSignatureKey(id), sig(key, 15)))
      expect(verdict(older)).toMatchObject({ ok: false, code: 'immutable', closeCode: 4400 })
      const same = updateFrom((doc) => doc.getMap('u:alice').set(editSignatureKey(id), sig(key, 20)))
      expect(verdict(same)).toMatchObject({ ok: false, code: 'immutable' })
      // Another device that saw only the edit at 10 signs its own newer one concurrently: taken.
      const before = Y.encodeStateVector(seenAt10)
      seenAt10.getMap('u:alice').set(editSignatureKey(id), sig(key, 15))
      accept(Y.encodeStateAsUpdate(seenAt10, before))
      for (const malformed of [
        { key: key.keyId, sig: 'A'.repeat(86) },
        { ...sig(key, 30), extra: 1 },
      ]) {
        const update = updateFrom((doc) => doc.getMap('u:alice').set(editSignatureKey(id), malformed))
        expect(verdict(update)).toMatchObject({ ok: false, code: 'bad-shape' })
      }
      const alone = updateFrom((doc) => doc.getMap('u:alice').delete(editSignatureKey(id)))
      expect(verdict(alone)).toMatchObject({ ok: false, code: 'immutable' })
      accept(updateFrom((_, alice) => alice.deleteForEveryone(id)))
      expect(server.getMap('u:alice').has(editSignatureKey(id))).toBe(false)
    })
  })
})

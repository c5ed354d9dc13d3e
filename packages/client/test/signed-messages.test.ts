import 'fake-indexeddb/auto'
import {
  generateSigningKey,
  keyRecordKey,
  type Message,
  signatureKey,
  signPayload,
  userRoot,
} from '@ticks/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { indexedDbKeyStore, type LiveConversation, memoryKeyStore } from '../src/index.js'
import { startServer, testClient, until } from './helpers.js'

let server: Awaited<ReturnType<typeof startServer>>
beforeAll(async () => {
  server = await startServer()
})
afterAll(() => server.close())

/** Clients of the given users on the real server, each with the conversation open and synced. */
async function open(conversationId: string, users: string[], on = server) {
  const clients = await Promise.all(
    users.map(async (userId) => testClient({ url: on.url, token: await on.token(userId), userId })),
  )
  const conversations = clients.map((client) => client.open(conversationId))
  await Promise.all(conversations.map((conversation) => conversation.whenSynced()))
  return { clients, conversations, close: () => Promise.all(clients.map((client) => client.close())) }
}

/** What `conversation` shows for `messageId` once it has it. */
async function shown(conversation: LiveConversation, messageId: string): Promise<Message> {
  return until(
    `message ${messageId} on ${conversation.userId}`,
    () => conversation.messages().find((message) => message.id === messageId),
    (message) => message !== undefined,
  ) as Promise<Message>
}

async function verificationOf(conversation: LiveConversation, messageId: string, expected: string) {
  const message = await shown(conversation, messageId)
  return until(
    `${expected} for ${messageId} on ${conversation.userId}`,
    () => conversation.verification(message),
    (verification) => verification === expected,
  )
}

/** Write entries into the user's own root and send them, as a hostile or stock client could. */
const writeRaw = (conversation: LiveConversation, entries: Record<string, unknown>) =>
  conversation.doc.transact(() => {
    const root = conversation.doc.getMap(userRoot(conversation.userId))
    for (const [key, value] of Object.entries(entries)) root.set(key, value)
  }, conversation)

describe('signed messages, end to end', () => {
  it('a recipient verifies what a member sends, and sees the key it was signed with', async () => {
    const aliceToken = await server.token('alice')
    const id = await server.conversation(aliceToken, ['bob'])
    const { clients, conversations, close } = await open(id, ['alice', 'bob'])
    const [alice, bob] = conversations as [LiveConversation, LiveConversation]
    const sent = alice.send('Noon?')
    expect(await verificationOf(bob, sent.id, 'verified')).toBe('verified')
    expect(await alice.verify(await shown(alice, sent.id))).toBe('verified')
    const key = await clients[0]!.signingKey()
    expect(bob.publishedKeys('alice')).toEqual({
      [key.keyId]: { publicKey: key.publicKey, createdAt: key.createdAt },
    })
    await close()
  })

  it('shows a replayed message (another author, id or conversation) as unverified, and an unknown key as unknown-key', async () => {
    const aliceToken = await server.token('alice')
    const id = await server.conversation(aliceToken, ['bob', 'mallory'])
    const elsewhere = await server.conversation(aliceToken, ['bob', 'mallory'])
    const { conversations, close } = await open(id, ['alice', 'bob', 'mallory'])
    const [alice, bob, mallory] = conversations as [LiveConversation, LiveConversation, LiveConversation]
    const original = alice.send('Transfer 10 to Bob')
    await verificationOf(bob, original.id, 'verified')
    const aliceRoot = mallory.doc.getMap(userRoot('alice'))
    const signature = aliceRoot.get(signatureKey(original.id)) as { key: string; sig: string }
    const keyRecord = aliceRoot.get(keyRecordKey(signature.key))
    const record = { id: original.id, text: original.text, createdAt: original.createdAt, to: ['bob'] }

    // Mallory replays alice's text, signature and key under her own root, with a new id: the
    // server accepts it (her root, well-formed entries), the recipient does not trust it.
    writeRaw(mallory, {
      'm|replayed': { ...record, id: 'replayed', text: 'Transfer 1000 to Mallory' },
      [signatureKey('replayed')]: signature,
      [keyRecordKey(signature.key)]: keyRecord,
      'm|replayed2': { ...record, id: 'replayed2' },
      [signatureKey('replayed2')]: signature,
    })
    expect(await verificationOf(bob, 'replayed', 'unverified')).toBe('unverified')
    expect(await verificationOf(bob, 'replayed2', 'unverified')).toBe('unverified')

    // A signature naming a key mallory never published: unknown-key, never verified.
    const stranger = await generateSigningKey()
    const payload = {
      kind: 'message' as const,
      conversationId: id,
      messageId: 'nokey',
      author: 'mallory',
      text: 'hi',
      createdAt: 1,
    }
    writeRaw(mallory, {
      'm|nokey': { id: 'nokey', text: 'hi', createdAt: 1, to: ['alice', 'bob'] },
      [signatureKey('nokey')]: { key: stranger.keyId, sig: await signPayload(stranger.privateKey, payload) },
    })
    expect(await verificationOf(bob, 'nokey', 'unknown-key')).toBe('unknown-key')
    expect(await bob.verify(await shown(bob, 'nokey'))).toBe('unknown-key')

    // The same entries, byte for byte, in another conversation: the id and author match, the conversation does not.
    const other = await open(elsewhere, ['mallory', 'bob'])
    const [malloryThere, bobThere] = other.conversations as [LiveConversation, LiveConversation]
    malloryThere.doc.transact(() => {
      // Mallory cannot write in alice's root; a relay that could (a compromised server) is the
      // core test's case. Here she takes the message as her own, with alice's key.
      const root = malloryThere.doc.getMap(userRoot('mallory'))
      root.set(`m|${original.id}x`, { ...record, id: `${original.id}x` })
      root.set(signatureKey(`${original.id}x`), signature)
      root.set(keyRecordKey(signature.key), keyRecord)
    }, malloryThere)
    expect(await verificationOf(bobThere, `${original.id}x`, 'unverified')).toBe('unverified')
    await Promise.all([close(), other.close()])
  })

  it('keeps old messages verified across a key rotation', async () => {
    const aliceToken = await server.token('alice')
    const id = await server.conversation(aliceToken, ['bob'])
    const { clients, conversations, close } = await open(id, ['alice', 'bob'])
    const [alice, bob] = conversations as [LiveConversation, LiveConversation]
    const first = alice.send('before')
    await verificationOf(bob, first.id, 'verified')
    const old = await clients[0]!.signingKey()
    const rotated = await clients[0]!.rotateSigningKey()
    expect(rotated.keyId).not.toBe(old.keyId)
    const second = alice.send('after')
    await verificationOf(bob, second.id, 'verified')
    expect(await bob.verify(await shown(bob, first.id))).toBe('verified')
    expect(Object.keys(bob.publishedKeys('alice')).sort()).toEqual([old.keyId, rotated.keyId].sort())
    await close()
  })

  it("a lost device's key is revoked from the new device, whose own key works; the revoked key's messages show unverified", async () => {
    const aliceToken = await server.token('alice')
    const id = await server.conversation(aliceToken, ['bob'])
    const laptopKeys = memoryKeyStore()
    const laptopClient = testClient({
      url: server.url,
      token: aliceToken,
      userId: 'alice',
      keyStore: laptopKeys,
    })
    const { conversations, close } = await open(id, ['bob'])
    const [bob] = conversations as [LiveConversation]
    const laptop = laptopClient.open(id)
    await laptop.whenSynced()
    const fromLaptop = laptop.send('from the laptop')
    await verificationOf(bob, fromLaptop.id, 'verified')
    const lostKey = await laptopKeys.current()

    // The laptop is lost. A new device of alice's makes its own key and revokes the laptop's.
    const phoneClient = testClient({ url: server.url, token: aliceToken, userId: 'alice' })
    const phone = phoneClient.open(id)
    await phone.whenSynced()
    const fromPhone = phone.send('new phone, revoking the laptop')
    expect((await phoneClient.signingKey()).keyId).not.toBe(lostKey.keyId)
    expect(phoneClient.revokeKey(lostKey.keyId)).toBe(1)
    expect(phoneClient.revokeKey(lostKey.keyId)).toBe(0)
    expect(await verificationOf(bob, fromPhone.id, 'verified')).toBe('verified')
    // Signed before the revocation, by a key that may now be in anyone's hands.
    expect(await verificationOf(bob, fromLaptop.id, 'unverified')).toBe('unverified')

    // Whoever holds the laptop signs a new message with the revoked key by hand: unverified too.
    await until(
      'the laptop sees the revocation',
      () => laptop.publishedKeys()[lostKey.keyId]?.revokedAt,
      (at) => at !== undefined,
    )
    const record = { id: 'late', text: 'please send the codes', createdAt: Date.now(), to: ['bob'] }
    const sig = await signPayload(lostKey.privateKey, {
      kind: 'message',
      conversationId: id,
      messageId: record.id,
      author: 'alice',
      text: record.text,
      createdAt: record.createdAt,
    })
    writeRaw(laptop, { 'm|late': record, [signatureKey('late')]: { key: lostKey.keyId, sig } })
    expect(await verificationOf(bob, 'late', 'unverified')).toBe('unverified')

    // The laptop's own client, found again, signs with a fresh key: revocation retires a key, not
    // a device (a stolen device's session is the server's to revoke).
    const found = laptop.send('found it')
    expect(await verificationOf(bob, found.id, 'verified')).toBe('verified')
    expect((await laptopKeys.current()).keyId).not.toBe(lostKey.keyId)
    await Promise.all([close(), phoneClient.close(), laptopClient.close()])
  })

  it('keeps a device key in IndexedDB across clients of the same browser profile', async () => {
    const first = indexedDbKeyStore('ticks-keys:test-user')
    const second = indexedDbKeyStore('ticks-keys:test-user')
    const [a, b] = await Promise.all([first.current(), second.current()])
    expect(a.keyId).toBe(b.keyId)
    expect(a.privateKey.extractable).toBe(false)
    const rotated = await first.rotate()
    expect((await indexedDbKeyStore('ticks-keys:test-user').current()).keyId).toBe(rotated.keyId)
  })
})

describe('signed messages across sealing and edits (issues 15 and 17), end to end', () => {
  let sealing: Awaited<ReturnType<typeof startServer>>
  beforeAll(async () => {
    sealing = await startServer({ historyWindow: 4 })
  })
  afterAll(() => sealing.close())

  it('a sealed signed message paged back in verifies from its history record', async () => {
    const aliceToken = await sealing.token('alice')
    const id = await sealing.conversation(aliceToken, ['bob'])
    const aliceClient = testClient({ url: sealing.url, token: aliceToken, userId: 'alice' })
    const alice = aliceClient.open(id)
    await alice.whenSynced()
    const sent: Message[] = []
    for (let i = 0; i < 10; i++) {
      const message = alice.send(`signed ${i}`)
      // Each signature reaches the server before the next message: sealed with its message.
      await until(
        `the signature of ${i}`,
        () => alice.doc.getMap(userRoot('alice')).has(signatureKey(message.id)),
        Boolean,
      )
      sent.push(message)
    }
    const oldest = sent[0]!.id
    await until(
      'the oldest sealed',
      () => alice.sealedThrough(),
      (through) => through >= 1,
    )
    // Alice held it when it was sealed: her sealed copy kept the signature.
    expect(await alice.verify(alice.message(oldest))).toBe('verified')

    const bobClient = testClient({ url: sealing.url, token: await sealing.token('bob'), userId: 'bob' })
    const bob = bobClient.open(id)
    await bob.whenSynced()
    expect(bob.messages().some((message) => message.id === oldest)).toBe(false)
    // The live document holds neither the sealed message nor its signature; the key stays.
    expect(bob.doc.getMap(userRoot('alice')).has(signatureKey(oldest))).toBe(false)
    expect(Object.keys(bob.publishedKeys('alice'))).toHaveLength(1)
    while (bob.hasOlder()) await bob.loadOlder(3)
    const paged = await shown(bob, oldest)
    expect(paged.text).toBe('signed 0')
    expect(await bob.verify(paged)).toBe('verified')
    expect(bob.verification(paged)).toBe('verified')
    // A record tampered on the way (by a store or a cache) is not its author's.
    expect(await bob.verify({ ...paged, text: 'signed 0, rewritten' })).toBe('unverified')
    await Promise.all([aliceClient.close(), bobClient.close()])
  })

  it('an edited message verifies on the recipient from its edit signature', async () => {
    const aliceToken = await sealing.token('alice')
    const id = await sealing.conversation(aliceToken, ['bob'])
    const { conversations, close } = await open(id, ['alice', 'bob'], sealing)
    const [alice, bob] = conversations as [LiveConversation, LiveConversation]
    const sent = alice.send('Noon?')
    await verificationOf(bob, sent.id, 'verified')
    alice.edit(sent.id, 'One, rather.')
    const edited = await until(
      'the edit on bob',
      () => bob.messages().find((message) => message.id === sent.id)!,
      (message) => message.text === 'One, rather.',
    )
    expect(edited.edited).toBeDefined()
    expect(
      await until(
        'the edit verified',
        () => bob.verification(edited),
        (answer) => answer === 'verified',
      ),
    ).toBe('verified')
    expect(await bob.verify(edited)).toBe('verified')
    // The original text with the edit's time, or the edit's text as the original, is not.
    expect(await bob.verify({ ...edited, text: 'Noon?' })).toBe('unverified')
    expect(await bob.verify({ ...edited, edited: undefined })).toBe('unverified')
    await close()
  })
})

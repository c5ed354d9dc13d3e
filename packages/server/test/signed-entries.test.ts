import {
  generateSigningKey,
  type HistoryMessage,
  keyRecordKey,
  type Message,
  MessageVerifier,
  signatureKey,
  signMessage,
  userRoot,
} from '@ticks/core'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import * as Y from 'yjs'
import { writeUpdate } from '../src/sync/protocol.js'
import { startTestServer, stockClient, type TestServer, tokenFor, until } from './helpers/server.js'

/**
 * Signed messages (issue 16): the server relays signatures and keys as they are written (it does
 * not verify them for anyone) and refuses malformed ones over the socket with 4400.
 */

/** A raw socket of `userId` that writes `entries` in the own root, once the server has said hello. */
async function rawWriter(server: TestServer, id: string, userId: string) {
  const socket = new WebSocket(`${server.wsUrl}/sync/${id}?token=${await tokenFor(userId)}`)
  socket.on('error', () => {})
  const doc = new Y.Doc({ guid: id })
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  )
  const greeted = new Promise((resolve) => socket.once('message', resolve))
  return {
    closed,
    async send(entries: Record<string, unknown>) {
      await greeted
      const before = Y.encodeStateVector(doc)
      doc.transact(() => {
        for (const [key, value] of Object.entries(entries)) doc.getMap(userRoot(userId)).set(key, value)
      })
      socket.send(writeUpdate(Y.encodeStateAsUpdate(doc, before)))
    },
    close: () => socket.close(),
  }
}

describe('signed entries over the socket', () => {
  let server: TestServer | undefined
  afterEach(async () => {
    await server?.close()
    server = undefined
  })

  it('relays a signature and its key untouched: the recipient verifies the message', async () => {
    server = await startTestServer()
    const id = await server.conversation('alice', { alice: 'owner', bob: 'member' })
    const alice = await stockClient(server, id, 'alice')
    const bob = await stockClient(server, id, 'bob')
    await until(() => alice.provider.synced && bob.provider.synced)
    const key = await generateSigningKey()
    const message = alice.conversation.send('signed over a stock y-websocket socket')
    expect(await signMessage(alice.doc, 'alice', message, key, alice.conversation)).toBe('signed')

    const aliceRoot = alice.doc.getMap(userRoot('alice'))
    const bobsCopy = bob.doc.getMap(userRoot('alice'))
    await until(() => bobsCopy.has(signatureKey(message.id)) && bobsCopy.has(keyRecordKey(key.keyId)))
    for (const entry of [signatureKey(message.id), keyRecordKey(key.keyId)]) {
      expect(JSON.stringify(bobsCopy.get(entry))).toBe(JSON.stringify(aliceRoot.get(entry)))
    }
    const verifier = new MessageVerifier(bob.doc)
    expect(await verifier.verify({ ...message, author: 'alice' })).toBe('verified')
    verifier.destroy()
    alice.destroy()
    bob.destroy()
  })

  it('refuses a malformed signature or key record with 4400 and applies nothing; the room keeps serving', async () => {
    server = await startTestServer()
    const id = await server.conversation('alice', { alice: 'owner', mallory: 'member', bob: 'member' })
    const key = await generateSigningKey()
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ [signatureKey('m1')]: { key: key.keyId, sig: 'too short' } }, /sig is 64 bytes/],
      [
        { [signatureKey('m1')]: { key: key.keyId, sig: 'A'.repeat(86), extra: 1 } },
        /signature is \{ key, sig \}/,
      ],
      [{ [keyRecordKey('k1')]: { publicKey: 'A'.repeat(44), createdAt: 1 } }, /publicKey is 32 bytes/],
      [{ [keyRecordKey('k1')]: { publicKey: key.publicKey, createdAt: -1 } }, /createdAt/],
    ]
    for (const [entries, reason] of cases) {
      const mallory = await rawWriter(server, id, 'mallory')
      await mallory.send(entries)
      const closed = await mallory.closed
      expect(closed.code).toBe(4400)
      expect(closed.reason).toMatch(reason)
    }
    // The room keeps serving: a good key record from the same member is taken and relayed, and
    // nothing of the refused updates ever was.
    const bob = await stockClient(server, id, 'bob')
    const mallory = await rawWriter(server, id, 'mallory')
    await mallory.send({ [keyRecordKey('k1')]: { publicKey: key.publicKey, createdAt: key.createdAt } })
    const malloryRoot = bob.doc.getMap(userRoot('mallory'))
    await until(() => malloryRoot.has(keyRecordKey('k1')))
    expect([...malloryRoot.keys()]).toEqual([keyRecordKey('k1')])
    // Changing a published key is refused too (only a revocation may replace it).
    await mallory.send({ [keyRecordKey('k1')]: { publicKey: key.publicKey, createdAt: key.createdAt + 1 } })
    expect(await mallory.closed).toMatchObject({ code: 4400, reason: 'a published key cannot change' })
    bob.destroy()
  })

  it('refuses a member deleting or rewriting a signature (4400, nothing applied); the seal moves it into history', async () => {
    server = await startTestServer({ historyWindow: 3 })
    const id = await server.conversation('alice', { alice: 'owner', bob: 'member' })
    const alice = await stockClient(server, id, 'alice')
    const bob = await stockClient(server, id, 'bob')
    await until(() => alice.provider.synced && bob.provider.synced)
    const key = await generateSigningKey()
    const sent: Message[] = []
    for (const text of ['first', 'second']) {
      const message = alice.conversation.send(text)
      expect(await signMessage(alice.doc, 'alice', message, key, alice.conversation)).toBe('signed')
      sent.push(message)
    }
    const bobsCopy = bob.doc.getMap(userRoot('alice'))
    await until(() =>
      sent.every((m) => bobsCopy.has(signatureKey(m.id)) && bob.conversation.message(m.id).seq),
    )

    // Another device of alice (the author: the root is hers) deletes, then rewrites, a signature.
    const attempts: [string, (root: ReturnType<Y.Doc['getMap']>) => void, RegExp][] = [
      ['delete', (root) => root.delete(signatureKey(sent[0]!.id)), /leaves only with its message/],
      [
        'rewrite',
        (root) => root.set(signatureKey(sent[1]!.id), { key: key.keyId, sig: 'Q'.repeat(86) }),
        /already signed/,
      ],
    ]
    for (const [what, change, reason] of attempts) {
      const device = await stockClient(server, id, 'alice')
      await until(() => device.provider.synced)
      change(device.doc.getMap(userRoot('alice')))
      await until(() => device.closes.length > 0, 5000, `the ${what} refused`)
      expect(device.closes[0]).toMatchObject({ code: 4400 })
      expect(device.closes[0]!.reason).toMatch(reason)
      device.destroy()
    }
    // Nothing of either was applied: bob still holds both signatures as alice wrote them.
    for (const message of sent) {
      expect(bobsCopy.get(signatureKey(message.id))).toEqual(
        alice.doc.getMap(userRoot('alice')).get(signatureKey(message.id)),
      )
    }

    // The sequencer's seal deletes them with their messages, and the history records carry them.
    const written = alice.doc.getMap(userRoot('alice')).get(signatureKey(sent[0]!.id))
    for (const text of ['third', 'fourth']) {
      const message = alice.conversation.send(text)
      await signMessage(alice.doc, 'alice', message, key, alice.conversation)
    }
    await until(() => bob.conversation.sealedThrough() >= 1)
    await until(() => !bobsCopy.has(signatureKey(sent[0]!.id)))
    const response = await fetch(`${server.url}/api/conversations/${id}/history`, {
      headers: { authorization: `Bearer ${await tokenFor('bob')}` },
    })
    const page = (await response.json()) as { messages: HistoryMessage[] }
    expect(page.messages[0]).toMatchObject({
      id: sent[0]!.id,
      signature: written,
    })
    // A member's fresh replica verifies the paged-in message from its record and the published key.
    const fresh = await stockClient(server, id, 'bob', new Y.Doc({ guid: id }))
    await until(() => fresh.provider.synced)
    const verifier = new MessageVerifier(fresh.doc, {
      sealedSignatureOf: (messageId) =>
        fresh.conversation.conversationIndex.history.get(messageId)?.signature,
    })
    fresh.conversation.addHistory(page.messages)
    expect(await verifier.verify(fresh.conversation.message(sent[0]!.id))).toBe('verified')
    verifier.destroy()
    for (const client of [alice, bob, fresh]) client.destroy()
  })
})

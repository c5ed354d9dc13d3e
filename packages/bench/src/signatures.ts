import { performance } from 'node:perf_hooks'
import {
  Conversation,
  generateSigningKey,
  initConversation,
  type MessageRecord,
  MessageVerifier,
  messageKey,
  type SignedPayload,
  type SigningKey,
  signPayload,
  userRoot,
  verifyPayload,
  writeSignature,
} from '@ticks/core'
import * as Y from 'yjs'
import { median, table } from './stats.js'

/**
 * Issue 16's benchmark: what signed messages cost (WebCrypto Ed25519, no server). Signing and
 * verifying one message, each awaited in turn as the client and the verifier do; the bytes a
 * signature adds to the document; and opening a conversation of signed messages the way a client
 * does (load, `messages()`) then verifying its first screen (the newest 50), cold and cached.
 */

const MEMBERS = ['ann', 'ben', 'cid', 'dee', 'eve']
const SCREEN = 50

const payloadOf = (conversationId: string, author: string, record: MessageRecord): SignedPayload => ({
  kind: 'message',
  conversationId,
  messageId: record.id,
  author,
  text: record.text,
  createdAt: record.createdAt,
})

async function microsPerCall(count: number, call: (i: number) => Promise<unknown>): Promise<number> {
  const rounds: number[] = []
  for (let round = 0; round < 5; round++) {
    const start = performance.now()
    for (let i = 0; i < count; i++) await call(i)
    rounds.push(((performance.now() - start) * 1000) / count)
  }
  return median(rounds)
}

/** A conversation of `count` messages by five members, each signed by its author's key. */
async function signedDoc(count: number, signed: boolean): Promise<Y.Doc> {
  const doc = new Y.Doc({ guid: 'bench-signed' })
  initConversation(doc, {
    title: 'bench',
    members: Object.fromEntries(MEMBERS.map((user, i) => [user, i === 0 ? 'owner' : 'member'])),
    now: 0,
  })
  const keys = new Map<string, SigningKey>()
  for (const user of MEMBERS) keys.set(user, await generateSigningKey(0))
  for (let i = 0; i < count; i++) {
    const author = MEMBERS[i % MEMBERS.length]!
    const record: MessageRecord = {
      id: `m${i.toString(36).padStart(8, '0')}`,
      text: `message ${i} with some ordinary length of text`,
      createdAt: 1_000 + i,
      to: MEMBERS.filter((user) => user !== author),
    }
    doc.getMap(userRoot(author)).set(messageKey(record.id), record)
    if (signed) {
      const key = keys.get(author)!
      const sig = await signPayload(key.privateKey, payloadOf(doc.guid, author, record))
      writeSignature(doc, author, record.id, key, sig, null)
    }
  }
  return doc
}

export async function runSignatures(messageCount: number): Promise<string> {
  const key = await generateSigningKey()
  const records = Array.from({ length: 1000 }, (_, i) => ({
    id: `m${i}`,
    text: `message ${i} with some ordinary length of text`,
    createdAt: i,
    to: [],
  }))
  const payloads = records.map((record) => payloadOf('bench', 'ann', record))
  const sigs = await Promise.all(payloads.map((payload) => signPayload(key.privateKey, payload)))
  const signUs = await microsPerCall(payloads.length, (i) => signPayload(key.privateKey, payloads[i]!))
  const verifyUs = await microsPerCall(payloads.length, (i) =>
    verifyPayload(key.publicKey, sigs[i]!, payloads[i]!),
  )

  const plain = Y.encodeStateAsUpdate(await signedDoc(messageCount, false))
  const state = Y.encodeStateAsUpdate(await signedDoc(messageCount, true))
  const bytesPerSignature = (state.length - plain.length) / messageCount

  const open: number[] = []
  const verifyScreen: number[] = []
  const cachedScreen: number[] = []
  let verdicts = ''
  for (let round = 0; round < 5; round++) {
    const start = performance.now()
    const doc = new Y.Doc({ guid: 'bench-signed' })
    const conversation = new Conversation(doc, { userId: 'ann' })
    Y.applyUpdate(doc, state)
    const screen = conversation.messages().slice(-SCREEN)
    const opened = performance.now()
    const verifier = new MessageVerifier(doc)
    const answers = await Promise.all(screen.map((message) => verifier.verify(message)))
    const verified = performance.now()
    for (const message of screen) verifier.verification(message)
    const cached = performance.now()
    open.push(opened - start)
    verifyScreen.push(verified - opened)
    cachedScreen.push(((cached - verified) * 1000) / SCREEN)
    verdicts = `${answers.filter((answer) => answer === 'verified').length}/${SCREEN} verified`
    verifier.destroy()
    conversation.destroy()
  }

  return [
    table(
      'Signed messages (WebCrypto Ed25519; 1,000 messages, each call awaited in turn; median of 5)',
      ['operation', 'µs per message'],
      [
        ['sign (signPayload: encode + Ed25519 sign)', signUs.toFixed(1)],
        ['verify (verifyPayload; the public key imported once, then cached)', verifyUs.toFixed(1)],
      ],
    ),
    table(
      `Opening a conversation of ${messageCount.toLocaleString('en')} signed messages and verifying its first screen (newest ${SCREEN}; median of 5; ${verdicts})`,
      ['step', 'figure'],
      [
        ['load the document + messages() (as a client opens it)', `${median(open).toFixed(1)} ms`],
        [
          `verify the ${SCREEN} messages on screen (a new verifier: every signature checked)`,
          `${median(verifyScreen).toFixed(2)} ms`,
        ],
        [
          'read the screen again (cached verification(), per message)',
          `${median(cachedScreen).toFixed(2)} µs`,
        ],
        [
          'document bytes a signature adds per message (its entry; 5 key records in all)',
          bytesPerSignature.toFixed(1),
        ],
      ],
    ),
  ].join('\n')
}

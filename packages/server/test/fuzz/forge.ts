import { Conversation } from '@ticks/core'
import * as Y from 'yjs'
import type { Specimen } from './mutate.js'
import type { Random } from './random.js'

/**
 * Mallory's updates, made by Yjs itself on a throw-away copy of what the server showed her (her
 * mirror), under a client id of her own. Valid ones are what any replica of hers would send; the
 * forbidden ones write where a member may not, the way a modified client would. A copy is used
 * once per round and dropped: once the server accepts a mutant of its update, its later clocks no
 * longer match what the room holds.
 */
export interface Forge {
  doc: Y.Doc
  conversation: Conversation
  /**
   * The update `write` makes on the copy, under a fresh client id, as a specimen (undefined when it
   * changed nothing).
   */
  capture(label: string, write: () => void, step?: 'update' | 'sync-step-2'): Specimen | undefined
  destroy(): void
}

export function forgeFrom(mirror: Y.Doc, freshClient: () => number, replicaId: string): Forge {
  const doc = new Y.Doc({ guid: mirror.guid })
  Y.applyUpdate(doc, Y.encodeStateAsUpdate(mirror))
  const conversation = new Conversation(doc, { userId: 'mallory', replicaId })
  return {
    doc,
    conversation,
    capture(label, write, step = 'update') {
      const updates: Uint8Array[] = []
      const record = (update: Uint8Array) => updates.push(update)
      // Each write under a client id of its own, from clock 0: a mutant of it is checked on its own
      // merits, not parked as "incomplete" behind an earlier write the room never took.
      doc.clientID = freshClient()
      doc.on('update', record)
      try {
        write()
      } finally {
        doc.off('update', record)
      }
      if (updates.length === 0) return undefined
      const update = updates.length === 1 ? updates[0]! : Y.mergeUpdates(updates)
      return { kind: 'update', label, step, update }
    },
    destroy() {
      conversation.destroy()
      doc.destroy()
    },
  }
}

/** Text a member might send: short, long, unicode, near the 16 KiB bound. */
export function messageText(random: Random, n: number): string {
  switch (random.int(6)) {
    case 0:
      return `mallory ${n} ${'é🙂'.repeat(1 + random.int(20))}`
    case 1:
      return `mallory ${n} ${'x'.repeat(2000 + random.int(6000))}`
    default:
      return `mallory ${n}`
  }
}

/** An array nested `depth` deep: a reader recursing over it could overflow its stack. */
const nested = (depth: number): unknown[] => {
  let value: unknown[] = []
  for (let i = 0; i < depth; i++) value = [value]
  return value
}

/** What an honest replica of hers writes: a message, receipts, a discarded send. */
export function validSpecimens(forge: Forge, random: Random, n: number): Specimen[] {
  const { conversation } = forge
  const step = () => (random.chance(0.2) ? 'sync-step-2' : 'update') as 'update' | 'sync-step-2'
  const specimens = [
    forge.capture('her message', () => conversation.send(messageText(random, n)), step()),
    forge.capture('her delivered receipt', () => conversation.markDelivered(), step()),
    forge.capture('her read receipt', () => conversation.markRead(), step()),
    forge.capture('her message sent and discarded', () => {
      conversation.discard(conversation.send(`discarded ${n}`).id)
    }),
  ]
  return specimens.filter((specimen): specimen is Specimen => specimen !== undefined)
}

/**
 * Writes a member must never get through: another user's root, `meta`, `server`, unknown roots
 * and keys, nested types, oversized or malformed entries, receipts ahead of the order log, and
 * rewriting or deleting what others wrote.
 */
export function forbiddenSpecimens(forge: Forge, random: Random): Specimen[] {
  const { doc } = forge
  const record = (id: string, text = 'forged') => ({ id, text, createdAt: Date.now(), to: ['alice', 'bob'] })
  const someKey = (root: string, prefix: string): string | undefined => {
    const keys = [...doc.getMap(root).keys()].filter((key) => key.startsWith(prefix))
    return keys.length > 0 ? random.pick(keys) : undefined
  }
  const writers: [string, () => void][] = [
    ['a message in u:alice', () => doc.getMap('u:alice').set('m|forgedbymallory', record('forgedbymallory'))],
    ["a receipt in bob's root", () => doc.getMap('u:bob').set('r|mallory', { d: 0, r: 0 })],
    ['the title', () => doc.getMap('meta').set('title', 'pwned')],
    ['herself as owner', () => doc.getMap('meta').set('member|mallory', { role: 'owner', joinedAt: 1 })],
    ['a new member', () => doc.getMap('meta').set('member|eve', { role: 'member', joinedAt: 1 })],
    ['the order log', () => doc.getArray('server').push(['forged-order'])],
    ['an unknown root', () => doc.getMap('x').set('m|x', record('x'))],
    ['an unknown key in her root', () => doc.getMap('u:mallory').set('z|x', 1)],
    ['a nested type in her root', () => doc.getMap('u:mallory').set('m|nested', new Y.Map())],
    ['a text type as a root', () => doc.getText('notes').insert(0, 'hi')],
    [
      'a message past the size bound',
      () => doc.getMap('u:mallory').set('m|big', record('big', 'x'.repeat(17 * 1024))),
    ],
    ['a message of the wrong shape', () => doc.getMap('u:mallory').set('m|shape', { id: 'shape', text: 5 })],
    ['a message whose key and id differ', () => doc.getMap('u:mallory').set('m|one', record('two'))],
    [
      'a receipt ahead of the order log',
      () => doc.getMap('u:mallory').set('r|ahead', { d: 1_000_000, r: 0 }),
    ],
    ['binary content in her root', () => doc.getMap('u:mallory').set('m|bin', new Uint8Array([1, 2, 3]))],
    [
      'a bigint in a message',
      () => doc.getMap('u:mallory').set('m|big-int', { ...record('big-int'), createdAt: 10n }),
    ],
    [
      'a message nested past any reader',
      () => doc.getMap('u:mallory').set('m|deep', { ...record('deep'), to: nested(64) }),
    ],
    ['a receipt with read above delivered', () => doc.getMap('u:mallory').set('r|odd', { d: 0, r: 5 })],
    // Signed messages (issue 16): signatures and keys are shape-checked, and only ever one's own.
    ['a malformed signature', () => doc.getMap('u:mallory').set('s|x', { key: 'k', sig: 'forged' })],
    ['a malformed key record', () => doc.getMap('u:mallory').set('k|x', { publicKey: 'AAAA', createdAt: 1 })],
    [
      'a signature in u:alice',
      () => doc.getMap('u:alice').set('s|forged', { key: 'k', sig: 'A'.repeat(86) }),
    ],
    [
      "a key record in bob's root",
      () => doc.getMap('u:bob').set('k|mallory', { publicKey: 'A'.repeat(43), createdAt: 1 }),
    ],
  ]
  const aliceMessage = someKey('u:alice', 'm|')
  if (aliceMessage) {
    writers.push(
      ["deleting alice's message", () => doc.getMap('u:alice').delete(aliceMessage)],
      [
        "alice's message id in her own root",
        () => doc.getMap('u:mallory').set(aliceMessage, record(aliceMessage.slice(2))),
      ],
    )
  }
  const ownMessage = someKey('u:mallory', 'm|')
  if (ownMessage) {
    writers.push([
      'rewriting her sent message',
      () => doc.getMap('u:mallory').set(ownMessage, record(ownMessage.slice(2), 'edited')),
    ])
  }
  if (doc.getArray('server').length > 0)
    writers.push(['deleting from the order log', () => doc.getArray('server').delete(0, 1)])
  const ownReceipt = someKey('u:mallory', 'r|')
  const receipt = ownReceipt
    ? (doc.getMap('u:mallory').get(ownReceipt) as { d?: number } | undefined)
    : undefined
  if (ownReceipt && (receipt?.d ?? 0) > 0) {
    writers.push(['lowering her receipt', () => doc.getMap('u:mallory').set(ownReceipt, { d: 0, r: 0 })])
  }
  const [label, write] = random.pick(writers)
  const specimen = forge.capture(`forbidden: ${label}`, write)
  return specimen ? [specimen] : []
}

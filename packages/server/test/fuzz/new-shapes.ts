import { randomBytes } from 'node:crypto'
import type { Forge } from './forge.js'
import type { EntryRef, Specimen } from './mutate.js'
import type { Random } from './random.js'

/**
 * Mallory's writes of the entries issues 16 and 17 added: batches (several messages in one update,
 * all or none), announcements (the server's `system` root, a `:system` author), signatures (`k|`
 * key records, `s|` signatures) and message actions (`e|` edits, `d|` deletions for everyone,
 * `x|` reactions). Valid ones must be taken; the others refused, and nothing of them applied.
 */

/** Base64url of `bytes` random bytes: the shape of a public key (32) or a signature (64). */
const base64url = (bytes: number) => randomBytes(bytes).toString('base64url')

/** A write that a client API may refuse on its own (not her message, deleted already): then none. */
function attempt(forge: Forge, label: string, write: () => void): Specimen | undefined {
  try {
    return forge.capture(label, write)
  } catch {
    return undefined
  }
}

/** Her messages still live in the copy (sent, neither discarded nor deleted for everyone). */
function ownMessageIds(forge: Forge): string[] {
  return forge.conversation
    .messages()
    .filter((message) => message.author === 'mallory' && !message.deleted)
    .map((message) => message.id)
}

function othersMessageIds(forge: Forge): string[] {
  return forge.conversation
    .messages()
    .filter((message) => message.author === 'alice' || message.author === 'bob')
    .map((message) => message.id)
}

/** What an honest replica of hers writes with the new entries. */
export function validShapeSpecimens(forge: Forge, random: Random, n: number): Specimen[] {
  const { doc, conversation } = forge
  const own = ownMessageIds(forge)
  const others = othersMessageIds(forge)
  const keyId = `mallory-key-${n}-${random.int(1_000_000)}`
  const specimens = [
    forge.capture('a batch of her messages in one update', () => {
      doc.transact(() => {
        for (let i = 0; i < 2 + random.int(4); i++) conversation.send(`batch ${n}.${i}`)
      })
    }),
    // Fields the record does not define are ignored by every reader: it shows as hers, no announcement.
    forge.capture('her message dressed as an announcement', () => {
      const id = `dressed-${n}-${random.int(1_000_000)}`
      doc.getMap('u:mallory').set(`m|${id}`, {
        id,
        text: `not an announcement ${n}`,
        createdAt: Date.now(),
        to: ['alice', 'bob'],
        author: ':system',
        announcement: true,
      })
    }),
    // The server checks a signature's shape, never its bytes: recipients verify.
    forge.capture('her message with a key record and its signature', () => {
      doc.transact(() => {
        const sent = conversation.send(`signed ${n}`)
        const root = doc.getMap('u:mallory')
        root.set(`k|${keyId}`, { publicKey: base64url(32), createdAt: Date.now() })
        root.set(`s|${sent.id}`, { key: keyId, sig: base64url(64) })
      })
    }),
  ]
  if (own.length > 0) {
    const target = random.pick(own)
    specimens.push(
      attempt(forge, 'her edit of her message', () => conversation.edit(target, `edited ${n}`)),
      random.chance(0.3)
        ? attempt(forge, 'her deletion for everyone of her message', () =>
            conversation.deleteForEveryone(target),
          )
        : undefined,
    )
  }
  if (others.length > 0) {
    specimens.push(
      attempt(forge, "her reaction to another's message", () =>
        conversation.react(random.pick(others), '👍'),
      ),
    )
  }
  return specimens.filter((specimen): specimen is Specimen => specimen !== undefined)
}

/**
 * New entries a member must never get through: announcements (the `system` root, a `:system`
 * author's root, an admin's announcement rewritten or deleted), a batch with one forged message
 * (none of it may land), malformed or forged keys and signatures, and actions on another's
 * message or of the wrong shape. One of them, at random.
 */
export function forbiddenShapeSpecimens(forge: Forge, random: Random): Specimen[] {
  const { doc, conversation } = forge
  const record = (id: string, text = 'forged') => ({ id, text, createdAt: Date.now(), to: ['alice', 'bob'] })
  const root = () => doc.getMap('u:mallory')
  const own = ownMessageIds(forge)
  const others = othersMessageIds(forge)
  const someKey = (name: string, prefix: string): string | undefined => {
    const keys = [...doc.getMap(name).keys()].filter((key) => key.startsWith(prefix))
    return keys.length > 0 ? random.pick(keys) : undefined
  }
  const writers: [string, () => EntryRef[] | undefined][] = [
    [
      'an announcement in the system root',
      () => void doc.getMap('system').set('m|forged-announcement', record('forged-announcement', 'Evacuate')),
    ],
    [
      "a message under the system author's user root",
      () => void doc.getMap('u::system').set('m|forged-system', record('forged-system', 'Evacuate')),
    ],
    [
      'a batch of hers with one forged message',
      () => {
        const batch: EntryRef[] = []
        doc.transact(() => {
          for (let i = 0; i < 3; i++) {
            batch.push({ root: 'u:mallory', key: `m|${conversation.send(`doomed batch ${i}`).id}` })
          }
          doc.getMap('u:alice').set('m|forged-in-batch', record('forged-in-batch'))
        })
        return batch
      },
    ],
    [
      'a key record of the wrong shape',
      () => void root().set('k|bad-key', { publicKey: base64url(31), createdAt: 1, trusted: true }),
    ],
    [
      'a signature of the wrong shape',
      () => void root().set('s|bad-signature', { key: 'k', sig: base64url(63) }),
    ],
    [
      'an edit of the wrong shape',
      () => void root().set(`e|${own[0] ?? 'none'}`, { text: 5, editedAt: 'now' }),
    ],
    ['a reaction that is not true', () => void root().set(`x|${others[0] ?? 'none'}|👍`, 'yes')],
    ['a reaction to no message', () => void root().set('x|no-such-message|👍', true)],
  ]
  if (others.length > 0) {
    const theirs = random.pick(others)
    const author = forge.conversation.message(theirs).author
    writers.push(
      [
        "an edit of another's message",
        () => void root().set(`e|${theirs}`, { text: 'edited', editedAt: Date.now() }),
      ],
      [
        "a deletion for everyone of another's message",
        () => void root().set(`d|${theirs}`, { deletedAt: Date.now(), createdAt: 1, to: ['alice', 'bob'] }),
      ],
      [
        "a signature in another's root",
        () => void doc.getMap(`u:${author}`).set(`s|${theirs}`, { key: 'k', sig: base64url(64) }),
      ],
    )
  }
  if (own.length > 0) {
    const mine = random.pick(own)
    writers.push([
      'an edit past the size bound',
      () => void root().set(`e|${mine}`, { text: 'x'.repeat(17 * 1024), editedAt: Date.now() }),
    ])
    const signed = doc.getMap('u:mallory').has(`s|${mine}`)
    if (signed)
      writers.push([
        'a second signature',
        () => void root().set(`s|${mine}`, { key: 'k', sig: base64url(64) }),
      ])
  }
  const announcement = someKey('system', 'm|')
  if (announcement)
    writers.push(['deleting an announcement', () => void doc.getMap('system').delete(announcement)])
  const publishedKey = someKey('u:mallory', 'k|')
  if (publishedKey) writers.push(['deleting her published key', () => void root().delete(publishedKey)])
  const deletion = someKey('u:mallory', 'd|')
  if (deletion) writers.push(['taking back a deletion for everyone', () => void root().delete(deletion)])

  const [label, write] = random.pick(writers)
  let neverApplied: EntryRef[] | undefined
  const specimen = forge.capture(`forbidden: ${label}`, () => {
    neverApplied = write()
  })
  if (specimen?.kind !== 'update') return []
  return [neverApplied ? { ...specimen, neverApplied } : specimen]
}

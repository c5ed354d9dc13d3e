import { performance } from 'node:perf_hooks'
import {
  Conversation,
  ConversationIndex,
  initConversation,
  type MessageRecord,
  messageKey,
  stampUnsequenced,
  userRoot,
} from '@ticks/core'
import * as Y from 'yjs'
import { median, table } from './stats.js'

/**
 * Issue 2's benchmark: a 100,000-message, 5-member conversation where everyone has delivered and
 * read everything. Receipt bytes per message per member for the watermark encoding, beside a naive
 * grow-only set of (message, level) entries measured in the same run; and the time to `messages()`.
 */

export const MEMBERS = ['ann', 'ben', 'cid', 'dee', 'eve']

export function conversationDoc(messageCount: number): Y.Doc {
  const doc = new Y.Doc({ guid: 'bench' })
  initConversation(doc, {
    title: 'bench',
    members: Object.fromEntries(MEMBERS.map((user, i) => [user, i === 0 ? 'owner' : 'member'])),
    now: 0,
  })
  doc.transact(() => {
    for (let i = 0; i < messageCount; i++) {
      const author = MEMBERS[i % MEMBERS.length]!
      const id = `m${i.toString(36).padStart(8, '0')}`
      const record: MessageRecord = {
        id,
        text: `message ${i}`,
        createdAt: i,
        to: MEMBERS.filter((u) => u !== author),
      }
      doc.getMap(userRoot(author)).set(messageKey(id), record)
    }
  })
  const index = new ConversationIndex(doc)
  stampUnsequenced(index)
  index.destroy()
  return doc
}

/** Receipt bytes of a naive encoding: one grow-only entry per (message, level) per recipient. */
function naiveReceiptBytes(base: Y.Doc, messageCount: number): number {
  const naive = clone(base)
  naive.transact(() => {
    for (const user of MEMBERS) {
      const map = naive.getMap(`receipts:${user}`)
      for (let i = 0; i < messageCount; i++) {
        const id = `m${i.toString(36).padStart(8, '0')}`
        map.set(`d|${id}`, 1)
        map.set(`r|${id}`, 1)
      }
    }
  })
  const bytes = size(naive) - size(base)
  naive.destroy()
  return bytes
}

const size = (doc: Y.Doc) => Y.encodeStateAsUpdate(doc).byteLength
const clone = (doc: Y.Doc) => {
  const copy = new Y.Doc({ guid: doc.guid })
  Y.applyUpdate(copy, Y.encodeStateAsUpdate(doc))
  return copy
}

/**
 * Issue 17: what message actions add to the document. Each member reacts to `count` messages it
 * did not write (one key per user, message and emoji), then each author edits `count` of its own
 * messages once, then one message is edited `count` times over (what an overwritten edit leaves).
 */
function actionBytes(base: Y.Doc, count: number): { reaction: number; edit: number; reEdit: number } {
  const doc = clone(base)
  const conversations = MEMBERS.map(
    (user) =>
      new Conversation(doc, {
        userId: user,
        replicaId: `${user}-phone`,
        // Past the per-minute bound on purpose: a bench, not a user (core counts per replica).
        limits: { maxEditsPerMinute: count + 1 },
      }),
  )
  const messages = conversations[0]!.messages()
  const before = size(doc)
  let reactions = 0
  for (const [u, conversation] of conversations.entries()) {
    for (let i = 0; i < count; i++) {
      const target = messages[(i * MEMBERS.length + u + 1) % messages.length]!
      if (conversation.react(target.id, '👍')) reactions++
    }
  }
  const afterReactions = size(doc)
  let edits = 0
  for (const [u, conversation] of conversations.entries()) {
    for (let i = 0; i < count; i++) {
      const own = messages[(i * MEMBERS.length + u) % messages.length]!
      conversation.edit(own.id, `edited message ${i}`)
      edits++
    }
  }
  const afterEdits = size(doc)
  const author = new Conversation(doc, {
    userId: MEMBERS[0]!,
    replicaId: 'ann-laptop',
    limits: { maxEditsPerMinute: count + 1 },
  })
  const again = messages[0]!
  for (let i = 0; i < count; i++) author.edit(again.id, `edited message ${i}`)
  const afterReEdits = size(doc)
  for (const conversation of [...conversations, author]) conversation.destroy()
  doc.destroy()
  return {
    reaction: (afterReactions - before) / reactions,
    edit: (afterEdits - afterReactions) / edits,
    reEdit: (afterReEdits - afterEdits) / count,
  }
}

export function runCoreStorage(messageCount = 100_000) {
  const base = conversationDoc(messageCount)
  const baseBytes = size(base)

  // Watermarks: each member's device raises once to the end of the log, in small steps as a real
  // client would (delivered, then read, a few times over), so overwritten entries are counted too.
  const watermarks = clone(base)
  for (const user of MEMBERS) {
    const conversation = new Conversation(watermarks, { userId: user, replicaId: `${user}-phone` })
    const messages = conversation.messages()
    for (const step of [0.25, 0.5, 0.75, 1]) {
      const upTo = messages[Math.floor(step * (messages.length - 1))]!
      conversation.markDelivered()
      conversation.markRead(upTo.id)
    }
    conversation.destroy()
  }
  const watermarkBytes = size(watermarks) - baseBytes

  const naiveBytes = naiveReceiptBytes(base, messageCount)
  const actions = actionBytes(base, 200)
  base.destroy()
  const perCell = messageCount * MEMBERS.length

  // messages(), timed once the naive copy is gone (its 30 MB of Yjs items would only add GC work):
  // cold = a new Conversation (its index built from the document) and its first messages();
  // then a repeat with no change (cached), and after each of three single changes: a new message,
  // its stamp, another member's receipt.
  const cold: number[] = []
  const repeat: number[] = []
  const afterSend: number[] = []
  const afterStamp: number[] = []
  const afterReceipt: number[] = []
  const afterReaction: number[] = []
  const afterEdit: number[] = []
  let statusCheck = ''
  const time = (samples: number[], fn: () => unknown) => {
    const t0 = performance.now()
    const value = fn()
    samples.push(performance.now() - t0)
    return value
  }
  // For scale: what opening such a conversation costs before Ticks does anything, i.e. Yjs
  // loading the stored document (as y-indexeddb or a first sync does).
  const stored = Y.encodeStateAsUpdate(watermarks)
  const docLoad: number[] = []
  // How a client opens it: a Conversation on an empty doc, then the stored document loaded into
  // it in one transaction (y-indexeddb, a first sync), then messages(). Its cost over Yjs's own
  // load is what Ticks adds to opening the conversation.
  const openedThenLoaded: number[] = []
  for (let run = 0; run < 3; run++) {
    const loaded = new Y.Doc({ guid: watermarks.guid })
    time(docLoad, () => Y.applyUpdate(loaded, stored))
    loaded.destroy()
    const opened = new Y.Doc({ guid: watermarks.guid })
    const conversation = new Conversation(opened, { userId: 'ann', replicaId: 'ann-phone' })
    time(openedThenLoaded, () => {
      Y.applyUpdate(opened, stored)
      return conversation.messages()
    })
    conversation.destroy()
    opened.destroy()
  }
  for (let run = 0; run < 5; run++) {
    let conversation: Conversation | undefined
    const listed = time(cold, () => {
      conversation = new Conversation(watermarks, { userId: 'ann', replicaId: 'ann-phone' })
      return conversation.messages()
    }) as ReturnType<Conversation['messages']>
    // The last message of the seeded log (later runs add unstamped ones after it): should be `read`.
    if (run === 0) statusCheck = `${listed.at(-1)!.status} (seq ${listed.at(-1)!.seq})`
    time(repeat, () => conversation!.messages())
    conversation!.send(`one more ${run}`)
    time(afterSend, () => conversation!.messages())
    // The sequencer stamps it (as the server does after its commit): the order log grows.
    const index = new ConversationIndex(watermarks)
    stampUnsequenced(index)
    index.destroy()
    time(afterStamp, () => conversation!.messages())
    // Another member reads it: a receipt raise changes a status.
    const other = new Conversation(watermarks, { userId: 'ben', replicaId: 'ben-phone' })
    if (!other.markRead()) throw new Error('bench: the receipt raise changed nothing')
    other.destroy()
    time(afterReceipt, () => conversation!.messages())
    // Issue 17: another member reacts to a message in the middle of the list, then its author
    // edits it; each must touch one message, not rebuild the list (same range as a receipt).
    const middle = listed[Math.floor(listed.length / 2)]!
    const reactor = new Conversation(watermarks, { userId: 'ben', replicaId: 'ben-phone' })
    reactor.react(middle.id, ['👍', '🎉', '😮', '❤️', '🙏'][run]!)
    reactor.destroy()
    time(afterReaction, () => conversation!.messages())
    const author = new Conversation(watermarks, {
      userId: middle.author,
      replicaId: `${middle.author}-phone`,
    })
    author.edit(middle.id, `edited in run ${run}`)
    author.destroy()
    time(afterEdit, () => conversation!.messages())
    if (conversation!.message(middle.id).text !== `edited in run ${run}`)
      throw new Error('bench: the edit did not show')
    conversation!.destroy()
  }

  return {
    text: [
      table(
        `Receipts storage: ${messageCount.toLocaleString()} messages × ${MEMBERS.length} members, all delivered and read`,
        ['encoding', 'receipt bytes', 'bytes / message / member', 'target'],
        [
          ['watermarks (Ticks)', watermarkBytes, watermarkBytes / perCell, '≤ 2'],
          ['grow-only set (naive)', naiveBytes, naiveBytes / perCell, ''],
          ['ratio Ticks / naive', '', `${((watermarkBytes / naiveBytes) * 100).toPrecision(2)} %`, ''],
        ],
      ),
      table(
        'Message actions (issue 17): document bytes each adds',
        ['action', 'bytes', 'note'],
        [
          ['a reaction (x\\|<id>\\|<emoji> → true)', actions.reaction, 'one key per user, message and emoji'],
          [
            'a first edit (e\\|<id> → { text, editedAt }, ~18-char text)',
            actions.edit,
            'in the author’s root',
          ],
          ['an edit over an earlier one', actions.reEdit, 'the overwritten value becomes a tombstone'],
        ],
      ),
      `\nDocument without receipts: ${(baseBytes / 1024 / 1024).toFixed(1)} MiB (order log and messages). Status of the last stamped message, as ann sees it (all five read everything): ${statusCheck}.`,
      table(
        `messages() on that document (median of ${cold.length})`,
        ['case', 'ms', 'target'],
        [
          ['cold: new Conversation (index built from the document) + messages()', median(cold), '< 100'],
          ['repeat, nothing changed (cached list)', median(repeat), '< 100'],
          ['after one new message (own send)', median(afterSend), '< 100'],
          ['after its stamp arrives (order log + 1)', median(afterStamp), '< 100'],
          ["after another member's receipt raise", median(afterReceipt), '< 100'],
          ["after another member's reaction (issue 17)", median(afterReaction), '≈ receipt raise'],
          ["after the author's edit (issue 17)", median(afterEdit), '≈ receipt raise'],
          [
            `for scale, not Ticks: Yjs loading the document (Y.applyUpdate, ${(stored.byteLength / 1024 / 1024).toFixed(1)} MiB, median of ${docLoad.length})`,
            median(docLoad),
            '',
          ],
          [
            `opened as a client does: new Conversation, the document loaded into it, messages() (median of ${openedThenLoaded.length}); Ticks adds ${(median(openedThenLoaded) - median(docLoad)).toFixed(0)} ms to the Yjs load above`,
            median(openedThenLoaded),
            '',
          ],
        ],
      ),
    ].join('\n'),
    watermarkBytesPerCell: watermarkBytes / perCell,
    naiveBytesPerCell: naiveBytes / perCell,
    coldMs: median(cold),
    afterSendMs: median(afterSend),
    afterReceiptMs: median(afterReceipt),
    afterReactionMs: median(afterReaction),
    reactionBytes: actions.reaction,
    editBytes: actions.edit,
  }
}

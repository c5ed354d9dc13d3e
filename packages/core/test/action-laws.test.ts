import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import {
  applyCheckedUpdate,
  Conversation,
  ConversationIndex,
  checkUpdate,
  initConversation,
  type Message,
  type Role,
  type SealedMessage,
  sealThrough,
  stampUnsequenced,
  statusRank,
  TicksError,
} from '../src/index.js'
import type { LatticeStatus } from '../src/status.js'

/**
 * Message actions (issue 17) as laws, over random schedules: alice on two devices, bob and carol;
 * a server running the real write rules, sequencer and seals; links that drop, duplicate and
 * reorder. Every replica that received everything shows the same text, edited mark, tombstones,
 * reactions and quotes; a deleted text never reappears anywhere; statuses stay monotonic, and the
 * incremental list always equals one built from scratch.
 */

const MEMBERS: Record<string, Role> = { alice: 'owner', bob: 'member', carol: 'member' }
const DEVICES = [
  { name: 'a1', userId: 'alice' },
  { name: 'a2', userId: 'alice' },
  { name: 'b1', userId: 'bob' },
  { name: 'c1', userId: 'carol' },
] as const
const EMOJI = ['👍', '🎉', '😮']
const REMOTE = Symbol('remote')

interface Replica {
  name: string
  userId: string
  doc: Y.Doc
  conversation: Conversation
  outbox: Uint8Array[]
  inbox: Uint8Array[]
  observed: Map<string, number>
  /** Messages this replica has shown as deleted: they must stay so. */
  sawDeleted: Set<string>
}

type Fault = 'none' | 'drop' | 'duplicate'
type Command =
  | { kind: 'send'; replica: number; replyTo: number | null }
  | { kind: 'react'; replica: number; pick: number; emoji: number }
  | { kind: 'unreact'; replica: number; pick: number; emoji: number }
  | { kind: 'edit'; replica: number; pick: number }
  | { kind: 'delete'; replica: number; pick: number }
  | { kind: 'read'; replica: number }
  | { kind: 'flush'; replica: number }
  | { kind: 'resync'; replica: number }
  | { kind: 'toServer'; pick: number; fault: Fault }
  | { kind: 'toReplica'; replica: number; pick: number; fault: Fault }
  | { kind: 'stamp' }
  | { kind: 'seal'; keep: number }
  | { kind: 'peer' }
  | { kind: 'roundTrip'; replica: number }

const replica = fc.integer({ min: 0, max: DEVICES.length - 1 })
const fault = fc.constantFrom<Fault>('none', 'none', 'none', 'drop', 'duplicate')
const on = <K extends Command['kind'], R>(kind: K, rest: fc.Arbitrary<R>) =>
  rest.map((fields) => ({ kind, ...fields }) as unknown as Command)
const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 3, arbitrary: on('send', fc.record({ replica, replyTo: fc.option(fc.nat(), { nil: null }) })) },
  { weight: 2, arbitrary: on('react', fc.record({ replica, pick: fc.nat(), emoji: fc.nat() })) },
  { weight: 1, arbitrary: on('unreact', fc.record({ replica, pick: fc.nat(), emoji: fc.nat() })) },
  { weight: 2, arbitrary: on('edit', fc.record({ replica, pick: fc.nat() })) },
  { weight: 1, arbitrary: on('delete', fc.record({ replica, pick: fc.nat() })) },
  { weight: 1, arbitrary: on('read', fc.record({ replica })) },
  { weight: 3, arbitrary: on('flush', fc.record({ replica })) },
  { weight: 1, arbitrary: on('resync', fc.record({ replica })) },
  { weight: 4, arbitrary: on('toServer', fc.record({ pick: fc.nat(), fault })) },
  { weight: 5, arbitrary: on('toReplica', fc.record({ replica, pick: fc.nat(), fault })) },
  { weight: 2, arbitrary: fc.constant({ kind: 'stamp' } as Command) },
  { weight: 1, arbitrary: on('seal', fc.record({ keep: fc.integer({ min: 0, max: 3 }) })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'peer' } as Command) },
  { weight: 3, arbitrary: on('roundTrip', fc.record({ replica })) },
)

function createWorld() {
  let clock = 1_000
  let texts = 0
  const now = () => clock++
  const serverDoc = new Y.Doc({ guid: 'conv' })
  initConversation(serverDoc, { title: 'actions', members: MEMBERS, now: 0 })
  const serverIndex = new ConversationIndex(serverDoc)
  const serverInbox: { from: Replica; update: Uint8Array }[] = []
  const sealed: SealedMessage[] = []
  /** Every text ever written for a message, by message id (sends and edits). */
  const textsOf = new Map<string, string[]>()
  const replicas: Replica[] = DEVICES.map(({ name, userId }) => {
    const doc = new Y.Doc({ guid: 'conv' })
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(serverDoc), REMOTE)
    const r: Replica = {
      name,
      userId,
      doc,
      conversation: new Conversation(doc, { userId, replicaId: name, now, newId: () => `${name}-${texts}` }),
      outbox: [],
      inbox: [],
      observed: new Map(),
      sawDeleted: new Set(),
    }
    doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin !== REMOTE) r.outbox.push(update)
    })
    return r
  })
  serverDoc.on('update', (update: Uint8Array) => {
    for (const r of replicas) r.inbox.push(update)
  })
  let refusals = 0
  const sealedAuthorOf = (id: string) => sealed.find((s) => s.record.id === id)?.author ?? null

  const receiveAtServer = (from: Replica, update: Uint8Array) => {
    const verdict = checkUpdate(serverDoc, update, {
      userId: from.userId,
      role: MEMBERS[from.userId],
      sealedAuthorOf,
    })
    if (!verdict.ok) {
      // Refusals an honest replica can meet, each repaired by its next full sync: an action on (or
      // an edit overwriting one of) what it got from its other device directly, which the server
      // lacks yet.
      expect(verdict.reason, `${from.name}'s update was refused: ${JSON.stringify(verdict)}`).toMatch(
        /^no message|names a neighbour or parent the document lacks/,
      )
      refusals++
      return
    }
    if (verdict.incomplete) {
      serverInbox.push({ from, update: Y.encodeStateAsUpdate(from.doc) })
      return
    }
    applyCheckedUpdate(serverDoc, update, REMOTE)
  }

  const take = <T>(queue: T[], pick: number, f: Fault): T | undefined => {
    if (queue.length === 0) return undefined
    const index = pick % queue.length
    const item = queue[index]!
    if (f !== 'duplicate') queue.splice(index, 1)
    return f === 'drop' ? undefined : item
  }

  const pickMessage = (r: Replica, pick: number, own: boolean): Message | undefined => {
    const candidates = r.conversation.messages().filter((m) => !m.deleted && (!own || m.author === r.userId))
    return candidates.length === 0 ? undefined : candidates[pick % candidates.length]
  }

  /** A refusal the model must give (the write would be refused), never a silent no-op. */
  const tolerate = (write: () => void, allowed: string[]) => {
    try {
      write()
    } catch (error) {
      if (!(error instanceof TicksError) || !allowed.includes(error.code)) throw error
    }
  }

  const run = (cmd: Command): void => {
    switch (cmd.kind) {
      case 'send': {
        const r = replicas[cmd.replica]!
        const text = `text ${texts++} from ${r.name}`
        const original = cmd.replyTo === null ? undefined : pickMessage(r, cmd.replyTo, false)
        const sent = r.conversation.send(text, original ? { replyTo: original.id } : {})
        textsOf.set(sent.id, [text])
        break
      }
      case 'react':
      case 'unreact': {
        const r = replicas[cmd.replica]!
        const target = pickMessage(r, cmd.pick, false)
        if (!target) break
        const emoji = EMOJI[cmd.emoji % EMOJI.length]!
        if (cmd.kind === 'react') r.conversation.react(target.id, emoji)
        else r.conversation.unreact(target.id, emoji)
        break
      }
      case 'edit': {
        const r = replicas[cmd.replica]!
        const target = pickMessage(r, cmd.pick, true)
        if (!target) break
        const text = `edit ${texts++} by ${r.name}`
        tolerate(() => r.conversation.edit(target.id, text), ['rate-limited'])
        textsOf.get(target.id)?.push(text)
        break
      }
      case 'delete': {
        const r = replicas[cmd.replica]!
        const target = pickMessage(r, cmd.pick, true)
        if (target) r.conversation.deleteForEveryone(target.id)
        break
      }
      case 'read':
        replicas[cmd.replica]!.conversation.markRead()
        break
      case 'flush': {
        const r = replicas[cmd.replica]!
        for (const update of r.outbox.splice(0)) serverInbox.push({ from: r, update })
        break
      }
      case 'resync': {
        const r = replicas[cmd.replica]!
        r.inbox.push(Y.encodeStateAsUpdate(serverDoc, Y.encodeStateVector(r.doc)))
        serverInbox.push({ from: r, update: Y.encodeStateAsUpdate(r.doc) })
        break
      }
      case 'toServer': {
        const packet = take(serverInbox, cmd.pick, cmd.fault)
        if (packet) receiveAtServer(packet.from, packet.update)
        break
      }
      case 'toReplica': {
        const r = replicas[cmd.replica]!
        const update = take(r.inbox, cmd.pick, cmd.fault)
        if (update) Y.applyUpdate(r.doc, update, REMOTE)
        break
      }
      case 'stamp':
        stampUnsequenced(serverIndex)
        break
      case 'seal':
        sealed.push(...sealThrough(serverIndex, serverIndex.lastSeq() - cmd.keep))
        break
      case 'peer': {
        const [a, b] = [replicas[0]!, replicas[1]!]
        Y.applyUpdate(b.doc, Y.encodeStateAsUpdate(a.doc, Y.encodeStateVector(b.doc)), REMOTE)
        Y.applyUpdate(a.doc, Y.encodeStateAsUpdate(b.doc, Y.encodeStateVector(a.doc)), REMOTE)
        break
      }
      case 'roundTrip': {
        const r = replicas[cmd.replica]!
        run({ kind: 'flush', replica: cmd.replica })
        for (const packet of serverInbox.splice(0)) receiveAtServer(packet.from, packet.update)
        stampUnsequenced(serverIndex)
        for (const update of r.inbox.splice(0)) Y.applyUpdate(r.doc, update, REMOTE)
        break
      }
    }
  }

  /** What a user sees of a message, everything an action can change. */
  const view = (c: Conversation) =>
    c.messages().map(({ id, author, seq, text, edited, deleted, reactions, replyTo, status }) => ({
      id,
      author,
      seq,
      text,
      edited,
      deleted,
      reactions,
      replyTo,
      status,
    }))

  const deletedTexts = (): Set<string> => {
    const gone = new Set<string>()
    for (const r of replicas)
      for (const id of r.sawDeleted) for (const t of textsOf.get(id) ?? []) gone.add(t)
    return gone
  }

  const checkObservations = () => {
    for (const r of replicas) {
      const { conversation } = r
      const shown = view(conversation)
      // The incremental list equals a rebuild from the same document and history.
      const fresh = new Conversation(r.doc, { userId: r.userId, replicaId: r.name })
      fresh.conversationIndex.addHistory([...conversation.conversationIndex.history.values()])
      const rebuilt = view(fresh)
      fresh.destroy()
      const withoutStatus = (list: typeof shown) => list.map(({ status: _, ...rest }) => rest)
      expect(withoutStatus(shown), `${r.name}: incremental list differs from a rebuild`).toEqual(
        withoutStatus(rebuilt),
      )
      for (const m of shown) {
        if (m.deleted) r.sawDeleted.add(m.id)
        else expect(r.sawDeleted.has(m.id), `${r.name}: ${m.id} came back from deletion`).toBe(false)
        if (m.deleted) expect(m.text).toBe('')
        const rank = statusRank(m.status as LatticeStatus)
        expect(rank, `${r.name}: ${m.id} went down`).toBeGreaterThanOrEqual(r.observed.get(m.id) ?? 0)
        r.observed.set(m.id, rank)
      }
    }
    // A replica that showed a message deleted never shows its texts again, nor in a quote.
    for (const r of replicas) {
      const gone = new Set<string>()
      for (const id of r.sawDeleted) for (const t of textsOf.get(id) ?? []) gone.add(t)
      for (const m of r.conversation.messages()) {
        expect(gone.has(m.text), `${r.name} shows a deleted text`).toBe(false)
        if (m.replyTo?.text !== undefined) expect(gone.has(m.replyTo.text)).toBe(false)
      }
    }
  }

  /** Exchange everything: replicas first hear the server (and drop edits of deleted messages). */
  const exchangeAll = () => {
    for (let round = 0; round < 3; round++) {
      for (const r of replicas) {
        Y.applyUpdate(r.doc, Y.encodeStateAsUpdate(serverDoc, Y.encodeStateVector(r.doc)), REMOTE)
      }
      for (const r of replicas) receiveAtServer(r, Y.encodeStateAsUpdate(r.doc))
      stampUnsequenced(serverIndex)
    }
    for (const r of replicas) {
      Y.applyUpdate(r.doc, Y.encodeStateAsUpdate(serverDoc, Y.encodeStateVector(r.doc)), REMOTE)
      r.conversation.conversationIndex.addHistory(sealed)
    }
  }

  return {
    replicas,
    serverDoc,
    run,
    checkObservations,
    exchangeAll,
    view,
    sealed,
    deletedTexts,
    refusals: () => refusals,
  }
}

describe('message action laws over random schedules', () => {
  it('replicas that exchanged everything agree on texts, edits, tombstones and reactions; deleted texts never return', () => {
    fc.assert(
      fc.property(fc.array(command, { minLength: 30, maxLength: 100 }), (commands) => {
        const world = createWorld()
        for (const cmd of commands) {
          world.run(cmd)
          world.checkObservations()
        }
        world.exchangeAll()
        for (const r of world.replicas) {
          for (const m of r.conversation.messages())
            if (m.deleted) for (const o of world.replicas) o.sawDeleted.add(m.id)
        }
        world.checkObservations()
        const serverView = new Conversation(world.serverDoc, { userId: 'server' })
        serverView.conversationIndex.addHistory(world.sealed)
        const expected = world.view(serverView)
        for (const r of world.replicas) expect(world.view(r.conversation), r.name).toEqual(expected)
        for (const m of expected) expect(m.seq).toBeDefined()
        // The text of a deleted message (and of every edit of it) left the document.
        const stored = Buffer.from(Y.encodeStateAsUpdate(world.serverDoc)).toString('utf8')
        const deleted = new Set(expected.filter((m) => m.deleted).map((m) => m.id))
        for (const r of world.replicas) for (const id of deleted) r.sawDeleted.add(id)
        for (const text of world.deletedTexts()) expect(stored).not.toContain(text)
      }),
      { numRuns: 80 },
    )
  }, 180_000)
})

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import {
  applyCheckedUpdate,
  Conversation,
  ConversationIndex,
  checkUpdate,
  initConversation,
  type Role,
  type SealedMessage,
  sealThrough,
  stampUnsequenced,
  statusRank,
} from '../src/index.js'
import type { LatticeStatus } from '../src/status.js'

/**
 * The four laws of DESIGN section 3, checked over random schedules: several users (alice on two
 * devices), a server running the real write rules and sequencer, and links that drop, duplicate
 * and reorder updates. Partitions are the schedules that starve a link.
 */

const MEMBERS: Record<string, Role> = { alice: 'owner', bob: 'member', carol: 'member', dave: 'observer' }
const DEVICES = [
  { name: 'a1', userId: 'alice' },
  { name: 'a2', userId: 'alice' },
  { name: 'b1', userId: 'bob' },
  { name: 'c1', userId: 'carol' },
  { name: 'd1', userId: 'dave' },
] as const
const REMOTE = Symbol('remote')

interface Replica {
  name: string
  userId: string
  doc: Y.Doc
  conversation: Conversation
  /** Updates this replica made, not yet sent to the server. */
  outbox: Uint8Array[]
  /** Updates on their way from the server to this replica. */
  inbox: Uint8Array[]
  observed: Map<string, number>
}

type Command =
  | { kind: 'send'; replica: number }
  | { kind: 'delivered'; replica: number }
  | { kind: 'read'; replica: number; upTo: number | null }
  | { kind: 'flush'; replica: number }
  | { kind: 'resync'; replica: number }
  | { kind: 'toServer'; pick: number; fault: 'none' | 'drop' | 'duplicate' }
  | { kind: 'toReplica'; replica: number; pick: number; fault: 'none' | 'drop' | 'duplicate' }
  | { kind: 'stamp' }
  | { kind: 'seal'; keep: number }
  | { kind: 'peer' }
  | { kind: 'drain'; replica: number | null }
  | { kind: 'roundTrip'; replica: number }

const replicaIndex = fc.integer({ min: 0, max: DEVICES.length - 1 })
const fault = fc.constantFrom('none', 'none', 'none', 'drop', 'duplicate') as fc.Arbitrary<
  'none' | 'drop' | 'duplicate'
>
const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('send' as const), replica: replicaIndex }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delivered' as const), replica: replicaIndex }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('read' as const),
      replica: replicaIndex,
      upTo: fc.option(fc.nat(), { nil: null }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('flush' as const), replica: replicaIndex }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('resync' as const), replica: replicaIndex }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('toServer' as const), pick: fc.nat(), fault }) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('toReplica' as const),
      replica: replicaIndex,
      pick: fc.nat(),
      fault,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('stamp' as const) }) },
  // The sequencer seals all but the last `keep` stamped messages into history (DESIGN section 12).
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('seal' as const), keep: fc.integer({ min: 0, max: 3 }) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('peer' as const) }) },
  // A healthy stretch: one link (or the server's inbox) delivers everything it holds, in order.
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('drain' as const),
      replica: fc.option(replicaIndex, { nil: null }),
    }),
  },
  // A replica on a good connection for a moment: its writes reach the server, get stamped, come back.
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('roundTrip' as const), replica: replicaIndex }) },
)

function createWorld() {
  let clock = 1_000
  const now = () => clock++
  const serverDoc = new Y.Doc({ guid: 'conv' })
  initConversation(serverDoc, { title: 'laws', members: MEMBERS, now: 0 })
  const serverIndex = new ConversationIndex(serverDoc)
  const serverInbox: { from: Replica; update: Uint8Array }[] = []
  /** What the sequencer sealed: the history pages a store would serve. */
  const sealed: SealedMessage[] = []
  const allPackets: Uint8Array[] = []
  const replicas: Replica[] = DEVICES.map(({ name, userId }) => {
    const doc = new Y.Doc({ guid: 'conv' })
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(serverDoc), REMOTE)
    const replica: Replica = {
      name,
      userId,
      doc,
      conversation: new Conversation(doc, { userId, replicaId: name, now }),
      outbox: [],
      inbox: [],
      observed: new Map(),
    }
    doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin !== REMOTE) replica.outbox.push(update)
    })
    return replica
  })
  // The server broadcasts everything it applies, like a room does.
  serverDoc.on('update', (update: Uint8Array) => {
    allPackets.push(update)
    for (const replica of replicas) replica.inbox.push(update)
  })

  const receiveAtServer = (from: Replica, update: Uint8Array) => {
    const verdict = checkUpdate(serverDoc, update, { userId: from.userId, role: MEMBERS[from.userId] })
    // Honest replicas never produce an update the server refuses.
    expect(verdict, `${from.name}'s update was refused: ${JSON.stringify(verdict)}`).toMatchObject({
      ok: true,
    })
    if (verdict.ok && verdict.incomplete) {
      // Frames were lost or reordered: the server asks the sender to resync instead of applying.
      serverInbox.push({ from, update: Y.encodeStateAsUpdate(from.doc) })
      return
    }
    applyCheckedUpdate(serverDoc, update, REMOTE)
  }

  const take = <T>(queue: T[], pick: number, fault: 'none' | 'drop' | 'duplicate'): T | undefined => {
    if (queue.length === 0) return undefined
    const index = pick % queue.length
    const item = queue[index]!
    if (fault !== 'duplicate') queue.splice(index, 1)
    return fault === 'drop' ? undefined : item
  }

  const run = (cmd: Command) => {
    switch (cmd.kind) {
      case 'send': {
        const replica = replicas[cmd.replica]!
        if (MEMBERS[replica.userId] === 'observer') {
          expect(() => replica.conversation.send('x')).toThrow(/observer/)
        } else {
          replica.conversation.send(`from ${replica.name} at ${clock}`)
        }
        break
      }
      case 'delivered':
        replicas[cmd.replica]!.conversation.markDelivered()
        break
      case 'read': {
        const { conversation } = replicas[cmd.replica]!
        const messages = conversation.messages()
        const target =
          cmd.upTo === null || messages.length === 0 ? undefined : messages[cmd.upTo % messages.length]
        conversation.markRead(target?.id)
        break
      }
      case 'flush': {
        const replica = replicas[cmd.replica]!
        for (const update of replica.outbox.splice(0)) {
          allPackets.push(update)
          serverInbox.push({ from: replica, update })
        }
        break
      }
      case 'resync': {
        // A reconnect: sync step 2 carries everything the replica has (and its whole delete set).
        const replica = replicas[cmd.replica]!
        const update = Y.encodeStateAsUpdate(replica.doc)
        allPackets.push(update)
        serverInbox.push({ from: replica, update })
        replica.inbox.push(Y.encodeStateAsUpdate(serverDoc, Y.encodeStateVector(replica.doc)))
        break
      }
      case 'toServer': {
        const packet = take(serverInbox, cmd.pick, cmd.fault)
        if (packet) receiveAtServer(packet.from, packet.update)
        break
      }
      case 'toReplica': {
        const replica = replicas[cmd.replica]!
        const update = take(replica.inbox, cmd.pick, cmd.fault)
        if (update) Y.applyUpdate(replica.doc, update, REMOTE)
        break
      }
      case 'stamp':
        stampUnsequenced(serverIndex)
        break
      case 'seal':
        sealed.push(...sealThrough(serverIndex, serverIndex.lastSeq() - cmd.keep))
        break
      case 'drain': {
        if (cmd.replica === null) {
          for (const packet of serverInbox.splice(0)) receiveAtServer(packet.from, packet.update)
        } else {
          const replica = replicas[cmd.replica]!
          for (const update of replica.inbox.splice(0)) Y.applyUpdate(replica.doc, update, REMOTE)
        }
        break
      }
      case 'roundTrip': {
        for (const step of [
          { kind: 'flush', replica: cmd.replica },
          { kind: 'drain', replica: null },
          { kind: 'stamp' },
          { kind: 'drain', replica: cmd.replica },
        ] as Command[]) {
          run(step)
        }
        break
      }
      case 'peer': {
        // Two tabs of one user meet directly (y-websocket's BroadcastChannel).
        const [a, b] = [replicas[0]!, replicas[1]!]
        Y.applyUpdate(b.doc, Y.encodeStateAsUpdate(a.doc, Y.encodeStateVector(b.doc)), REMOTE)
        Y.applyUpdate(a.doc, Y.encodeStateAsUpdate(b.doc, Y.encodeStateVector(a.doc)), REMOTE)
        break
      }
    }
  }

  /**
   * Law 2 (monotonic) and law 4 (read ⇒ delivered ⇒ sent), after every step, on every replica:
   * for the aggregate status and for every recipient's receipt.
   */
  const checkObservations = (highest: Map<string, number>) => {
    for (const replica of replicas) {
      const { conversation, observed } = replica
      // The incrementally patched list equals one built from scratch on the same document. While
      // Yjs holds structs back (their predecessors were lost or reordered), a receipt raise can be
      // pending while the deletion it made of a sibling device's key is applied: the document
      // alone then shows that user's watermark lower than it was. The index remembers the higher
      // one (law 2), so then the list may only be ahead of a rebuild, never behind.
      // A rebuild knows no history: compare what the live document holds.
      const fresh = new Conversation(replica.doc, { userId: replica.userId, replicaId: replica.name })
      const sealedThrough = conversation.conversationIndex.sealedThrough
      const incremental = view(conversation).filter((m) => m.seq === undefined || m.seq > sealedThrough)
      const rebuilt = view(fresh)
      fresh.destroy()
      if (replica.doc.store.pendingStructs === null) {
        expect(incremental, `${replica.name}: incremental list differs from a rebuild`).toEqual(rebuilt)
      } else {
        const withoutStatus = (list: typeof rebuilt) => list.map(({ status: _, ...rest }) => rest)
        expect(withoutStatus(incremental), `${replica.name}: incremental list differs`).toEqual(
          withoutStatus(rebuilt),
        )
        incremental.forEach((message, i) => {
          const rank = (status: string) => statusRank(status as LatticeStatus)
          expect(rank(message.status), `${replica.name}: behind a rebuild`).toBeGreaterThanOrEqual(
            rank(rebuilt[i]!.status),
          )
        })
      }
      for (const message of conversation.messages()) {
        const observe = (key: string, status: LatticeStatus) => {
          const rank = statusRank(status)
          const before = observed.get(key) ?? 0
          expect(rank, `${replica.name} saw ${key} go down to ${status}`).toBeGreaterThanOrEqual(before)
          observed.set(key, rank)
          highest.set(key, Math.max(highest.get(key) ?? 0, rank))
        }
        observe(message.id, message.status as LatticeStatus)
        for (const [user, receipt] of Object.entries(conversation.receipts(message.id))) {
          if (message.seq === undefined) expect(receipt).toBe('pending')
          else expect(receipt).not.toBe('pending')
          observe(`${message.id}→${user}`, receipt as LatticeStatus)
        }
      }
    }
  }

  /** Exchange everything: every replica resyncs with the server until nothing moves. */
  const exchangeAll = () => {
    for (let round = 0; round < 3; round++) {
      for (const replica of replicas) receiveAtServer(replica, Y.encodeStateAsUpdate(replica.doc))
      stampUnsequenced(serverIndex)
      for (const replica of replicas) {
        Y.applyUpdate(replica.doc, Y.encodeStateAsUpdate(serverDoc, Y.encodeStateVector(replica.doc)), REMOTE)
      }
    }
  }

  const view = (conversation: Conversation) =>
    conversation.messages().map(({ id, seq, status, author, text }) => ({ id, seq, status, author, text }))

  /** Every replica (and a view of the server) pages in the whole history, as a scrolling app would. */
  const loadHistory = (conversation: Conversation) => conversation.conversationIndex.addHistory(sealed)

  return { replicas, serverDoc, allPackets, run, checkObservations, exchangeAll, view, loadHistory }
}

describe('status laws over random schedules', () => {
  it('merge is max, monotonic, idempotent and order-free, read ⇒ delivered ⇒ sent', () => {
    fc.assert(
      fc.property(fc.array(command, { minLength: 40, maxLength: 120 }), fc.nat(), (commands, shuffleSeed) => {
        const world = createWorld()
        const highest = new Map<string, number>()
        for (const cmd of commands) {
          world.run(cmd)
          world.checkObservations(highest)
        }
        world.exchangeAll()
        for (const replica of world.replicas) world.loadHistory(replica.conversation)
        world.checkObservations(highest)

        // Law 1: everyone agrees on every message, its order, seq and status ...
        const finalView = new Conversation(world.serverDoc, { userId: 'server' })
        world.loadHistory(finalView)
        const serverView = world.view(finalView)
        for (const replica of world.replicas) expect(world.view(replica.conversation)).toEqual(serverView)
        // ... and each status is at least the highest anyone recorded on the way.
        for (const message of serverView) {
          expect(message.seq).toBeDefined()
          expect(statusRank(message.status as LatticeStatus)).toBeGreaterThanOrEqual(
            highest.get(message.id) ?? 0,
          )
          for (const [user, receipt] of Object.entries(finalView.receipts(message.id))) {
            const key = `${message.id}→${user}`
            expect(statusRank(receipt as LatticeStatus)).toBeGreaterThanOrEqual(highest.get(key) ?? 0)
          }
        }

        // Law 3: re-applying every update ever sent, in any order, changes nothing.
        const packets = [...world.allPackets]
        let seed = shuffleSeed
        for (let i = packets.length - 1; i > 0; i--) {
          seed = (seed * 1103515245 + 12345) % 2 ** 31
          const j = seed % (i + 1)
          ;[packets[i], packets[j]] = [packets[j]!, packets[i]!]
        }
        const replica = world.replicas[shuffleSeed % world.replicas.length]!
        const stateBefore = Y.encodeStateVector(replica.doc)
        for (const packet of packets) Y.applyUpdate(replica.doc, packet, REMOTE)
        expect(Y.encodeStateVector(replica.doc)).toEqual(stateBefore)
        expect(world.view(replica.conversation)).toEqual(serverView)
      }),
      { numRuns: 100 },
    )
  }, 120_000)

  it('reaches read for a message everyone read, and stays there', () => {
    const world = createWorld()
    const [a1, a2, b1, c1] = world.replicas
    const message = a1!.conversation.send('hello group')
    world.exchangeAll()
    expect(a1!.conversation.status(message.id)).toBe('sent')
    b1!.conversation.markRead()
    world.exchangeAll()
    expect(a1!.conversation.receipts(message.id)).toEqual({ bob: 'read', carol: 'sent' })
    expect(a1!.conversation.status(message.id)).toBe('sent')
    c1!.conversation.markDelivered()
    world.exchangeAll()
    expect(a2!.conversation.status(message.id)).toBe('delivered')
    c1!.conversation.markRead(message.id)
    world.exchangeAll()
    expect(a2!.conversation.status(message.id)).toBe('read')
  })
})

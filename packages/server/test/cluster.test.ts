import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { createConversation, MemoryStore, type Room, RoomRegistry, type Store } from '../src/index.js'
import { LocalPubSub } from '../src/relay/local-pubsub.js'
import type { PubSub } from '../src/relay/pubsub.js'
import { connectMemoryPeer, type MemoryPeer, until } from './helpers/memory-peer.js'

/**
 * Several nodes in one process (DESIGN section 10): each node is a RoomRegistry with its own node
 * id over one shared store and one relay, as N `ticks-server` processes over PostgreSQL and Redis.
 * The store's lease fences the sequencer; the relay only makes things fast.
 */

const TIMING = { leaseMs: 400, renewMs: 50, pollMs: 100 }
const members = { alice: 'owner', bob: 'member', carol: 'member' } as const

/** A store a node reaches through: `pause()` holds every call (a SIGSTOP, a partition) until `resume()`. */
class PausableStore {
  private gate: Promise<void> | undefined
  private open: (() => void) | undefined
  constructor(readonly inner: Store) {}
  pause(): void {
    this.gate ??= new Promise((resolve) => {
      this.open = resolve
    })
  }
  resume(): void {
    this.open?.()
    this.gate = undefined
  }
  /** The inner store with every method waiting for the gate first. */
  view(): Store {
    return new Proxy(this.inner, {
      get: (target, key) => {
        const value = Reflect.get(target, key)
        if (typeof value !== 'function') return value
        return async (...args: unknown[]) => {
          while (this.gate) await this.gate
          return value.apply(target, args)
        }
      },
    })
  }
}

/** A relay that can lose everything (Redis down) or single messages. */
class LossyPubSub implements PubSub {
  down = false
  dropNext = 0
  private readonly statusListeners = new Set<(connected: boolean) => void>()
  constructor(private readonly inner: PubSub) {}
  get connected() {
    return !this.down
  }
  setDown(down: boolean) {
    this.down = down
    for (const listener of this.statusListeners) listener(!down)
  }
  subscribe(channel: string, handler: (message: Uint8Array) => void) {
    return this.inner.subscribe(channel, (message) => {
      if (!this.down) handler(message)
    })
  }
  /** Hold the next message back and deliver it after the one that follows (overtaking). */
  swapNext = false
  private held: { channel: string; message: Uint8Array } | undefined
  async publish(channel: string, message: Uint8Array) {
    if (this.down) return false
    if (this.dropNext > 0) {
      this.dropNext--
      return false
    }
    if (this.swapNext) {
      this.swapNext = false
      this.held = { channel, message }
      // Overtaken by the next message, or just late if none follows soon.
      setTimeout(() => {
        const held = this.held
        this.held = undefined
        if (held) void this.inner.publish(held.channel, held.message)
      }, 150)
      return true
    }
    const sent = await this.inner.publish(channel, message)
    const held = this.held
    this.held = undefined
    if (held) await this.inner.publish(held.channel, held.message)
    return sent
  }
  onStatus(listener: (connected: boolean) => void) {
    this.statusListeners.add(listener)
    return () => this.statusListeners.delete(listener)
  }
  close() {
    return Promise.resolve()
  }
}

interface Node {
  registry: RoomRegistry
  store: PausableStore
  relay: LossyPubSub
  room(): Promise<Room>
}

async function cluster(count: number, timing: Partial<typeof TIMING> = {}) {
  const store = new MemoryStore()
  const bus = new LocalPubSub()
  const id = await createConversation(store, { title: 'T', members })
  const nodes: Node[] = []
  for (let n = 0; n < count; n++) {
    const pausable = new PausableStore(store)
    const relay = new LossyPubSub(bus)
    const registry = new RoomRegistry({
      store: pausable.view(),
      cluster: { nodeId: `node-${n}`, relay, ...TIMING, ...timing },
    })
    nodes.push({
      registry,
      store: pausable,
      relay,
      room: async () => (await registry.acquire(id)).room,
    })
  }
  return { id, store, nodes }
}

/** Every message has exactly one seq, and seqs are 1…n without a gap (read from the store). */
async function storedOrder(store: Store, id: string): Promise<string[]> {
  const doc = new Y.Doc()
  for (const { update } of (await store.load(id))!) Y.applyUpdate(doc, update)
  return doc.getArray<string>('server').toArray()
}

const sentEverywhere = (peers: MemoryPeer[], ids: string[]) =>
  peers.every((peer) => ids.every((id) => peer.conversation.messages().some((m) => m.id === id && m.seq)))

let open: Node[] = []
afterEach(async () => {
  for (const node of open) {
    node.store.resume()
    await node.registry.closeAll()
  }
  open = []
})

describe('several nodes over one store', () => {
  it('clients on different nodes chat; exactly one node stamps, every seq once, without gaps', async () => {
    const { id, store, nodes } = await cluster(3)
    open = nodes
    const rooms = await Promise.all(nodes.map((node) => node.room()))
    const alice = connectMemoryPeer(rooms[0]!, 'alice')
    const bob = connectMemoryPeer(rooms[1]!, 'bob')
    const carol = connectMemoryPeer(rooms[2]!, 'carol')
    await until(() => [alice, bob, carol].every((peer) => peer.conversation.title() === 'T'), 3000, 'titles')
    const sent: string[] = []
    for (let round = 0; round < 5; round++) {
      for (const peer of [alice, bob, carol]) sent.push(peer.conversation.send(`${round}`).id)
    }
    await until(() => sentEverywhere([alice, bob, carol], sent), 5000, 'every message sent on every node')
    expect(rooms.filter((room) => room.isSequencer)).toHaveLength(1)
    const order = await storedOrder(store, id)
    expect([...order].sort()).toEqual([...sent].sort())
    for (const peer of [alice, bob, carol]) {
      expect(peer.conversation.messages().map((m) => m.seq)).toEqual(sent.map((_, i) => i + 1))
    }
    // Receipts cross nodes too.
    bob.conversation.markRead()
    carol.conversation.markRead()
    const lastFromAlice = sent.at(-3)!
    await until(
      () => alice.conversation.status(lastFromAlice) === 'read',
      3000,
      'read receipts from other nodes',
    )
  })

  it('keeps messages flowing without the relay (the store is polled), and repairs a lost relay message', {
    timeout: 20_000,
  }, async () => {
    const { id, store, nodes } = await cluster(2)
    open = nodes
    const [roomA, roomB] = await Promise.all(nodes.map((node) => node.room()))
    const alice = connectMemoryPeer(roomA!, 'alice')
    const bob = connectMemoryPeer(roomB!, 'bob')
    await until(() => alice.conversation.title() === 'T' && bob.conversation.title() === 'T')

    for (const node of nodes) node.relay.setDown(true)
    const offRelay = [
      alice.conversation.send('relay down, from a'),
      bob.conversation.send('relay down, from b'),
    ]
    await until(
      () =>
        sentEverywhere(
          [alice, bob],
          offRelay.map((m) => m.id),
        ),
      5000,
      'sent by polling',
    )

    for (const node of nodes) node.relay.setDown(false)
    nodes[0]!.relay.dropNext = 1
    nodes[1]!.relay.dropNext = 1
    const lossy = [
      alice.conversation.send('lost on the relay, a'),
      bob.conversation.send('lost on the relay, b'),
    ]
    await until(
      () =>
        sentEverywhere(
          [alice, bob],
          lossy.map((m) => m.id),
        ),
      5000,
      'sent after a gap',
    )
    expect(await storedOrder(store, id)).toHaveLength(4)
  })

  it('applies commits in entry order when the relay delivers them out of order, so deletions are never lost', async () => {
    const { nodes } = await cluster(2)
    open = nodes
    const [roomA, roomB] = await Promise.all(nodes.map((node) => node.room()))
    const alice = connectMemoryPeer(roomA!, 'alice')
    const bob = connectMemoryPeer(roomB!, 'bob')
    await until(() => alice.conversation.title() === 'T' && bob.conversation.title() === 'T')
    const first = alice.conversation.send('one')
    await until(() => sentEverywhere([alice, bob], [first.id]))
    bob.conversation.markDelivered()
    await until(() => alice.conversation.receipts(first.id).bob === 'delivered')
    // Bob's next raise overwrites his receipt: a new item and the deletion of the old one, in a
    // commit that node A now receives before the one before it.
    nodes[1]!.relay.swapNext = true
    const second = alice.conversation.send('two')
    await until(() => sentEverywhere([bob], [second.id]))
    bob.conversation.markRead()
    await new Promise((resolve) => setTimeout(resolve, 20))
    bob.conversation.send('three') // a commit to overtake the held one
    await until(() => alice.conversation.receipts(second.id).bob === 'read', 3000, 'the raise to reach alice')
    await until(
      () => {
        const a = Y.createDeleteSetFromStructStore(roomA!.doc.store)
        const b = Y.createDeleteSetFromStructStore(roomB!.doc.store)
        return (
          Y.equalDeleteSets(a, b) &&
          Y.encodeStateVector(roomA!.doc).toString() === Y.encodeStateVector(roomB!.doc).toString()
        )
      },
      3000,
      'both nodes to hold the same document, deletions included',
    )
  })

  it('fails over: a paused owner loses the lease, another node stamps the backlog, and the old owner cannot stamp when it wakes', async () => {
    const { id, store, nodes } = await cluster(2)
    open = nodes
    const [roomA, roomB] = await Promise.all(nodes.map((node) => node.room()))
    await until(() => roomA!.isSequencer || roomB!.isSequencer)
    const owner = roomA!.isSequencer ? nodes[0]! : nodes[1]!
    const ownerRoom = roomA!.isSequencer ? roomA! : roomB!
    const otherRoom = ownerRoom === roomA ? roomB! : roomA!
    const onOwner = connectMemoryPeer(ownerRoom, 'alice')
    const onOther = connectMemoryPeer(otherRoom, 'bob')
    await until(() => onOwner.conversation.title() === 'T' && onOther.conversation.title() === 'T')
    const before = onOther.conversation.send('before the pause')
    await until(() => sentEverywhere([onOwner, onOther], [before.id]))

    // SIGSTOP: the owner's store calls hang; its client writes on (and its stamp will wait).
    owner.store.pause()
    const stuck = onOwner.conversation.send('written on the paused owner')
    const backlog = [
      onOther.conversation.send('during the pause 1'),
      onOther.conversation.send('during the pause 2'),
    ]
    await until(() => otherRoom.isSequencer, 3000, 'the other node to take over')
    await until(
      () =>
        sentEverywhere(
          [onOther],
          backlog.map((m) => m.id),
        ),
      3000,
      'the backlog stamped',
    )

    // SIGCONT: the stamp the old owner held back is refused by the store (fenced); it reloads.
    owner.store.resume()
    await until(() => onOwner.closed !== null, 3000, 'the old owner to drop its sockets')
    expect(onOwner.closed).toMatchObject({ code: 1012 })
    const back = connectMemoryPeer(await owner.room(), 'alice', onOwner.doc)
    const all = [before.id, stuck.id, ...backlog.map((m) => m.id)]
    await until(() => sentEverywhere([back, onOther], all), 5000, 'everything sent everywhere')
    const order = await storedOrder(store, id)
    expect([...order].sort()).toEqual([...all].sort())
    expect(new Set(order).size).toBe(order.length)
    expect(back.conversation.messages().map((m) => m.seq)).toEqual([1, 2, 3, 4])
  })
})

describe('ids taken on two nodes at once (the store decides, never timing)', () => {
  /** A raw message entry, as a client whose id generator collides (or a hostile one) writes it. */
  const writeMessage = (peer: MemoryPeer, userId: string, id: string, text: string) =>
    peer.doc.transact(() => {
      peer.doc.getMap(`u:${userId}`).set(`m|${id}`, { id, text, createdAt: Date.now(), to: [] })
    })

  /** Both nodes and the store hold the same document. */
  async function converged(rooms: Room[], store: Store, id: string) {
    const stored = new Y.Doc()
    for (const { update } of (await store.load(id))!) Y.applyUpdate(stored, update)
    const vectors = [stored, ...rooms.map((room) => room.doc)].map((doc) =>
      Y.encodeStateVector(doc).toString(),
    )
    return vectors.every((vector) => vector === vectors[0])
  }

  it('gives a message id two authors write on two nodes to one of them; the loser is refused on reconnect', async () => {
    const { id, store, nodes } = await cluster(2)
    open = nodes
    const [roomA, roomB] = await Promise.all(nodes.map((node) => node.room()))
    const alice = connectMemoryPeer(roomA!, 'alice')
    const bob = connectMemoryPeer(roomB!, 'bob')
    await until(() => alice.conversation.title() === 'T' && bob.conversation.title() === 'T')
    // The same tick on both nodes: each room judges against its own copy, and both accept.
    writeMessage(alice, 'alice', 'same-id', 'from alice')
    writeMessage(bob, 'bob', 'same-id', 'from bob')
    await until(() => alice.closed !== null || bob.closed !== null, 3000, 'the losing node to reload')
    const [loser, loserName, loserNode] = alice.closed ? [alice, 'alice', nodes[0]!] : [bob, 'bob', nodes[1]!]
    const winner = loser === alice ? bob : alice
    expect(loser.closed).toMatchObject({ code: 1012 })
    expect(winner.closed).toBeNull()
    // The loser's client reconnects with what it wrote: now the write rules see the winner's entry.
    const back = connectMemoryPeer(await loserNode.room(), loserName, loser.doc)
    await until(() => back.closed !== null, 3000, 'the loser to be refused')
    expect(back.closed).toMatchObject({ code: 4400 })
    expect(back.closed!.reason).toContain('belongs to another author')
    const order = await storedOrder(store, id)
    expect(order).toEqual(['same-id'])
    await until(
      async () => converged(await Promise.all(nodes.map((n) => n.room())), store, id),
      3000,
      'convergence',
    )
    const [rooms0, rooms1] = await Promise.all(nodes.map((n) => n.room()))
    for (const room of [rooms0!, rooms1!]) {
      const authors = room.index.messages.get('same-id')
      expect(authors?.author).toBe(winner === alice ? 'alice' : 'bob')
      expect(room.doc.getMap(`u:${loserName}`).has('m|same-id')).toBe(false)
    }
  })

  it('gives a Yjs client id two users write with on two nodes to one of them', async () => {
    const { id, store, nodes } = await cluster(2)
    open = nodes
    const [roomA, roomB] = await Promise.all(nodes.map((node) => node.room()))
    const shared = 424242
    const aliceDoc = new Y.Doc({ guid: id })
    const bobDoc = new Y.Doc({ guid: id })
    aliceDoc.clientID = shared
    bobDoc.clientID = shared
    const alice = connectMemoryPeer(roomA!, 'alice', aliceDoc)
    const bob = connectMemoryPeer(roomB!, 'bob', bobDoc)
    await until(() => alice.conversation.title() === 'T' && bob.conversation.title() === 'T')
    writeMessage(alice, 'alice', 'from-alice', 'a')
    writeMessage(bob, 'bob', 'from-bob', 'b')
    await until(() => alice.closed !== null || bob.closed !== null, 3000, 'the losing node to reload')
    const [loser, loserName, loserNode] = alice.closed ? [alice, 'alice', nodes[0]!] : [bob, 'bob', nodes[1]!]
    const winner = loser === alice ? bob : alice
    expect(loser.closed).toMatchObject({ code: 1012 })
    expect(winner.closed).toBeNull()
    // The loser's client comes back with its write at clocks the room now holds as the winner's:
    // Yjs takes it for a re-send and skips it. What it writes next is refused: nobody else sees it.
    const back = connectMemoryPeer(await loserNode.room(), loserName, loser.doc)
    writeMessage(back, loserName, 'later', 'c')
    await until(() => back.closed !== null, 3000, 'the loser to be refused')
    expect(back.closed).toMatchObject({ code: 4403 })
    await until(
      async () => converged(await Promise.all(nodes.map((n) => n.room())), store, id),
      3000,
      'convergence',
    )
    expect(await storedOrder(store, id)).toEqual([winner === alice ? 'from-alice' : 'from-bob'])
    for (const room of await Promise.all(nodes.map((n) => n.room()))) {
      expect([...room.index.messages.keys()]).toEqual([winner === alice ? 'from-alice' : 'from-bob'])
    }
  })
})

describe('a node that lags the store', () => {
  it('judges a refusal again once caught up: a client moving over from a node ahead is not refused', async () => {
    // No poll to speak of, and node A's relay messages lost: node B learns only by asking the store.
    const { nodes } = await cluster(2, { pollMs: 60_000 })
    open = nodes
    const [roomA, roomB] = await Promise.all(nodes.map((node) => node.room()))
    const alice = connectMemoryPeer(roomA!, 'alice')
    const bob = connectMemoryPeer(roomA!, 'bob')
    await until(() => alice.conversation.title() === 'T' && bob.conversation.title() === 'T')
    nodes[0]!.relay.dropNext = 1_000
    nodes[1]!.relay.dropNext = 1_000
    const hello = alice.conversation.send('hello')
    await until(() => sentEverywhere([alice, bob], [hello.id]), 3000, 'sent on node A')
    expect(roomB!.index.messages.has(hello.id)).toBe(false)
    // Bob's client moves to node B with alice's message and its stamp, which B has not seen, and
    // reads it: a receipt past B's order log, and entries of another user's, as a forger's look.
    bob.connection.disconnect()
    const moved = connectMemoryPeer(roomB!, 'bob', bob.doc)
    moved.conversation.markRead()
    await until(() => roomB!.index.messages.get(hello.id)?.seq === 1, 3000, 'node B to catch up')
    const onB = connectMemoryPeer(roomB!, 'carol')
    await until(() => onB.conversation.receipts(hello.id).bob === 'read', 3000, "bob's receipt stored")
    expect(moved.closed).toBeNull()
    // A forgery is still refused, after the same catch-up.
    moved.doc.getMap('u:alice').set('m|forged', { id: 'forged', text: 'x', createdAt: 1, to: [] })
    await until(() => moved.closed !== null, 3000, 'the forgery refused')
    expect(moved.closed).toMatchObject({ code: 4403 })
  })

  it('admits a member just added on another node, and still refuses a stranger', async () => {
    const { store, nodes } = await cluster(2, { pollMs: 60_000 })
    open = nodes
    const [roomA, roomB] = await Promise.all(nodes.map((node) => node.room()))
    const alice = connectMemoryPeer(roomA!, 'alice')
    await until(() => alice.conversation.title() === 'T')
    nodes[0]!.relay.dropNext = 1_000
    alice.doc.getMap('meta').set('member|dave', { role: 'member', joinedAt: Date.now() })
    await until(() => roomA!.index.members.has('dave'), 3000, 'dave added on node A')
    await until(async () => (await store.listConversations('dave')).length === 1, 3000, 'the change stored')
    expect(roomB!.index.members.has('dave')).toBe(false)
    const dave = connectMemoryPeer(roomB!, 'dave')
    await until(() => dave.conversation.title() === 'T', 3000, 'dave synced on node B')
    expect(dave.closed).toBeNull()
    const stranger = connectMemoryPeer(roomB!, 'mallory')
    await until(() => stranger.closed !== null, 3000, 'the stranger refused')
    expect(stranger.closed).toMatchObject({ code: 4403 })
    expect(stranger.frames).toEqual([])
  })
})

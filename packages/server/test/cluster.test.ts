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

async function cluster(count: number) {
  const store = new MemoryStore()
  const bus = new LocalPubSub()
  const id = await createConversation(store, { title: 'T', members })
  const nodes: Node[] = []
  for (let n = 0; n < count; n++) {
    const pausable = new PausableStore(store)
    const relay = new LossyPubSub(bus)
    const registry = new RoomRegistry({
      store: pausable.view(),
      cluster: { nodeId: `node-${n}`, relay, ...TIMING },
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

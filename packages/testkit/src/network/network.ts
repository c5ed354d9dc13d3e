import { Conversation, initConversation, type Role, SEQUENCER_ORIGIN } from '@ticks/core'
import { type Connection, createRoom, MemoryStore, type Peer, type Room } from '@ticks/server'
import * as Y from 'yjs'
import { createRandom } from '../random.js'
import { belowObservedMax, convergenceDiff, viewOf } from './convergence.js'
import { DurableView } from './durable-view.js'
import { emptyLinkStats, type Faults, Link, type LinkStats, NO_FAULTS } from './link.js'
import { Replica } from './replica.js'
import { Scheduler } from './scheduler.js'
import { type LawViolation, type StatusObservation, StatusObserver } from './status-observer.js'

export type { Faults } from './link.js'
export type { Replica } from './replica.js'
export type { LawViolation, StatusObservation } from './status-observer.js'

/** Stands for the server in `partition()` groups. */
export const SERVER = 'server' as const
export type Node = Replica | typeof SERVER

export interface NetworkOptions {
  /** Same seed, same operations ⇒ same run: every delay, drop and tie comes from it. */
  seed: number
  /** The conversation the network holds. Default: alice (owner) and bob (member). */
  conversation?: { id?: string; title?: string; members?: Record<string, Role> }
  /** Faults every link starts with (default: none, 1–5 ms delay). */
  faults?: Partial<Faults>
  /** Replicas mark what they integrate as delivered, as `@ticks/client` does. Default true. */
  autoDeliver?: boolean
  /** Simulated group-commit window of the server's sequencer, in ms. Default 5. */
  commitDelayMs?: number
}

export interface NetworkStats extends LinkStats {
  simulatedMs: number
  events: number
  connects: number
  resyncs: number
  serverCloses: Record<string, number>
  commits: number
  /** Updates the room refused, by refusal code (a lost frame shows up as a gap: `unresolvable`). */
  refusals: Record<string, number>
}

export interface SettleOptions {
  /** Resync rounds before giving up (each repairs what lost frames left behind). Default 500. */
  maxRounds?: number
}

export interface Network {
  readonly seed: number
  readonly conversationId: string
  /** The real room from `@ticks/server` the replicas talk to. */
  readonly room: Room
  readonly server: typeof SERVER
  /** Simulated ms since the network was created. */
  readonly now: number
  /** A replica for `userId` on device `deviceId` (default `d1`); created and connected on first call. */
  replica(userId: string, deviceId?: string): Replica
  replicas(): Replica[]
  /** Nodes in different groups cannot talk; nodes in neither group stay where they were. */
  partition(groupA: readonly Node[], groupB: readonly Node[]): void
  /** Cut one replica off from everything. */
  isolate(replica: Replica): void
  /** Everyone can reach the server again; offline replicas reconnect. */
  heal(): void
  /** Change the faults on every link (or only on these replicas' links). */
  faults(faults: Partial<Faults>, only?: readonly Replica[]): void
  /** Advance simulated time by `ms`, running what falls due. */
  run(ms: number): Promise<void>
  /** Deliver everything pending, let the sequencer stamp, resync replicas left with gaps; repeat until quiet. */
  settle(options?: SettleOptions): Promise<void>
  /** Throws with a readable diff unless every replica shows what the server shows. */
  assertConverged(): void
  /** Throws if any replica ever saw a status go down, `sent` before durable, or `delivered` before integrated. */
  assertLaws(): void
  statusHistory(): readonly StatusObservation[]
  violations(): readonly LawViolation[]
  stats(): NetworkStats
  close(): Promise<void>
}

/** Replica and server state for one live connection. */
interface LiveConnection {
  up: Link
  down: Link
  room: Connection
}

const EPOCH = Date.UTC(2026, 0, 1)
/** Real-time group commits would make runs depend on the machine: the simulator drives commits. */
const NEVER_MS = 2 ** 31 - 1
/** Close codes after which a client stops retrying (auth and membership refusals). */
const TERMINAL_CLOSE_CODES = new Set([4401, 4403, 4404])

export async function createNetwork(options: NetworkOptions): Promise<Network> {
  const random = createRandom(options.seed)
  const linkRandom = random.fork()
  const reconnectRandom = random.fork()
  const idRandom = random.fork()
  const scheduler = new Scheduler()
  const conversationId = options.conversation?.id ?? `sim-${options.seed >>> 0}`
  const members = options.conversation?.members ?? { alice: 'owner', bob: 'member' }
  const autoDeliver = options.autoDeliver ?? true
  const commitDelayMs = options.commitDelayMs ?? 5

  const refusals: { time: number; closeCode: number; code: string }[] = []
  const refusalLog: object[] = []
  const durable = new DurableView(new MemoryStore())
  const usedClientIds = new Set<number>()
  const nextClientId = (): number => {
    for (;;) {
      const id = idRandom.int(1, 2 ** 31 - 1)
      if (!usedClientIds.has(id)) {
        usedClientIds.add(id)
        return id
      }
    }
  }

  const initial = new Y.Doc({ guid: conversationId })
  initial.clientID = nextClientId()
  initConversation(initial, { title: options.conversation?.title ?? 'Simulated', members, now: EPOCH })
  await durable.append(conversationId, [Y.encodeStateAsUpdate(initial)])
  initial.destroy()
  const room = await createRoom({
    id: conversationId,
    store: durable,
    commitWindowMs: NEVER_MS,
    // Simulated time races through thousands of frames per real millisecond.
    limits: { messagesPerSecond: 1e9, burst: 1e9 },
    events: { refused: (closeCode, code) => refusals.push({ time: scheduler.now, closeCode, code }) },
    log: { info: (obj) => refusalLog.push(obj), warn() {}, error: (obj) => refusalLog.push(obj) },
  })

  let lastCreatedAt = EPOCH
  const clock = (): number => {
    // Strictly increasing, so unsequenced messages never tie and fall back to their random ids.
    lastCreatedAt = Math.max(lastCreatedAt + 1, EPOCH + scheduler.now)
    return lastCreatedAt
  }

  let defaultFaults: Faults = { ...NO_FAULTS, ...options.faults }
  const faultsByReplica = new Map<Replica, Faults>()
  const linkStats = emptyLinkStats()
  const history: StatusObservation[] = []
  const violations: LawViolation[] = []
  const replicas: Replica[] = []
  const connections = new Map<Replica, LiveConnection>()
  const refusedForGood = new Set<Replica>()
  const reconnectPending = new Set<Replica>()
  const groups = new Map<Node, number>()
  let nextGroup = 1
  const counters = { connects: 0, resyncs: 0, serverCloses: {} as Record<string, number> }
  let commitScheduled = false
  let closed = false

  const groupOf = (node: Node): number => groups.get(node) ?? 0
  const reachable = (replica: Replica): boolean => groupOf(replica) === groupOf(SERVER)
  const faultsOf = (replica: Replica) => () => faultsByReplica.get(replica) ?? defaultFaults

  room.doc.on('update', (_update: Uint8Array, origin: unknown) => {
    if (origin === SEQUENCER_ORIGIN || commitScheduled || closed) return
    commitScheduled = true
    scheduler.after(commitDelayMs, 'server commit', async () => {
      commitScheduled = false
      if (!closed) await room.flush()
    })
  })

  const holdsMessage = (userId: string, messageId: string): boolean =>
    replicas.some((replica) => {
      if (replica.userId !== userId) return false
      const index = replica.conversation.conversationIndex
      return index.messages.has(messageId) || index.discarded.has(messageId)
    })

  const disconnect = (replica: Replica): void => {
    const live = connections.get(replica)
    if (!live) return
    connections.delete(replica)
    live.up.close()
    live.down.close()
    live.room.disconnect()
    replica.detach()
  }

  const scheduleReconnect = (replica: Replica): void => {
    if (reconnectPending.has(replica) || refusedForGood.has(replica)) return
    reconnectPending.add(replica)
    // Clients back off with jitter; the spread keeps reconnects from landing at the same instant.
    scheduler.after(reconnectRandom.int(10, 100), `${replica.name} reconnect`, () => {
      reconnectPending.delete(replica)
      if (!closed && !connections.has(replica) && reachable(replica)) connect(replica)
    })
  }

  const connect = (replica: Replica): void => {
    counters.connects++
    let live: LiveConnection | undefined
    const up = new Link(
      scheduler,
      linkRandom,
      `${replica.name}→server`,
      faultsOf(replica),
      linkStats,
      (frame) => live?.room.receive(frame),
    )
    const down = new Link(
      scheduler,
      linkRandom,
      `server→${replica.name}`,
      faultsOf(replica),
      linkStats,
      (frame) => replica.receive(frame),
    )
    const peer: Peer = {
      userId: replica.userId,
      send: (frame) => down.send(frame),
      close: (code, reason) =>
        down.sendReliably(() => {
          replica.closes.push({ time: scheduler.now, code, reason })
          counters.serverCloses[code] = (counters.serverCloses[code] ?? 0) + 1
          if (connections.get(replica) === live) disconnect(replica)
          if (TERMINAL_CLOSE_CODES.has(code)) refusedForGood.add(replica)
          else if (reachable(replica)) scheduleReconnect(replica)
        }),
    }
    live = { up, down, room: room.connect(peer) }
    connections.set(replica, live)
    replica.attach({ send: (frame) => up.send(frame) })
  }

  const applyReachability = (): void => {
    for (const replica of replicas) {
      if (reachable(replica)) {
        if (!connections.has(replica)) scheduleReconnect(replica)
      } else {
        disconnect(replica)
      }
    }
  }

  const needsResync = (replica: Replica): boolean => {
    if (replica.hasGaps) return true
    const mine = Y.encodeStateVector(replica.doc)
    const servers = Y.encodeStateVector(room.doc)
    return mine.length !== servers.length || mine.some((byte, i) => byte !== servers[i])
  }

  const serverView = () => {
    const conversation = new Conversation(room.doc, { userId: SERVER })
    try {
      return viewOf('server', conversation)
    } finally {
      conversation.destroy()
    }
  }

  const network: Network = {
    seed: options.seed,
    conversationId,
    room,
    server: SERVER,
    get now() {
      return scheduler.now
    },

    replica(userId, deviceId = 'd1') {
      const existing = replicas.find((r) => r.userId === userId && r.deviceId === deviceId)
      if (existing) return existing
      const replica = new Replica(userId, deviceId, conversationId, nextClientId(), clock, (r) => {
        if (autoDeliver) r.markDelivered()
      })
      const observer = new StatusObserver(
        replica.name,
        replica.conversation,
        () => scheduler.now,
        history,
        violations,
        (messageId) => durable.index.seqOf(messageId),
        holdsMessage,
      )
      replica.conversation.onChange(() => observer.observe())
      replicas.push(replica)
      if (reachable(replica)) connect(replica)
      return replica
    },

    replicas: () => [...replicas],

    partition(groupA, groupB) {
      const a = nextGroup++
      const b = nextGroup++
      for (const node of groupA) groups.set(node, a)
      for (const node of groupB) groups.set(node, b)
      applyReachability()
    },

    isolate(replica) {
      groups.set(replica, nextGroup++)
      applyReachability()
    },

    heal() {
      groups.clear()
      applyReachability()
    },

    faults(faults, only) {
      if (!only) {
        defaultFaults = { ...defaultFaults, ...faults }
        for (const [replica, own] of faultsByReplica) faultsByReplica.set(replica, { ...own, ...faults })
        return
      }
      for (const replica of only)
        faultsByReplica.set(replica, { ...(faultsByReplica.get(replica) ?? defaultFaults), ...faults })
    },

    run: (ms) => scheduler.runUntil(scheduler.now + ms),

    async settle({ maxRounds = 500 } = {}) {
      for (let round = 0; round < maxRounds; round++) {
        await scheduler.runUntilIdle()
        const stale = replicas.filter((r) => connections.has(r) && needsResync(r))
        if (stale.length === 0) return
        // What a lost frame left behind is repaired the way a client repairs it: reconnect and
        // run the sync handshake again.
        for (const replica of stale) {
          counters.resyncs++
          disconnect(replica)
          scheduleReconnect(replica)
        }
      }
      throw new Error(`network (seed ${options.seed}) did not settle within ${maxRounds} resync rounds`)
    },

    assertConverged() {
      const reference = serverView()
      const online = replicas.filter((r) => connections.has(r))
      const offline = replicas.filter((r) => !connections.has(r))
      const lines = convergenceDiff(
        reference,
        online.map((r) => viewOf(r.name, r.conversation)),
      )
      for (const replica of offline) lines.unshift(`${replica.name} is offline (partitioned or refused)`)
      lines.push(...belowObservedMax(reference, history))
      if (lines.length > 0) {
        const shown = lines.slice(0, 30)
        if (lines.length > shown.length) shown.push(`… and ${lines.length - shown.length} more`)
        throw new Error(
          `replicas have not converged (seed ${options.seed}, t=${scheduler.now}ms):\n  ${shown.join('\n  ')}`,
        )
      }
    },

    assertLaws() {
      if (violations.length === 0) return
      const shown = violations.slice(0, 30).map((v) => `[${v.law}] ${v.message}`)
      throw new Error(`status laws violated (seed ${options.seed}):\n  ${shown.join('\n  ')}`)
    },

    statusHistory: () => history,
    violations: () => violations,

    stats: () => ({
      ...linkStats,
      simulatedMs: scheduler.now,
      events: scheduler.eventsRun,
      connects: counters.connects,
      resyncs: counters.resyncs,
      serverCloses: { ...counters.serverCloses },
      commits: durable.commits,
      refusals: refusals.reduce<Record<string, number>>((counts, { code }) => {
        counts[code] = (counts[code] ?? 0) + 1
        return counts
      }, {}),
    }),

    async close() {
      if (closed) return
      closed = true
      for (const replica of replicas) disconnect(replica)
      await room.close()
      for (const replica of replicas) replica.destroy()
      await durable.close()
    },
  }
  return network
}

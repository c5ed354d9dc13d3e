import {
  Conversation,
  type HistoryMessage,
  initConversation,
  isValidId,
  type Role,
  SEQUENCER_ORIGIN,
  TicksError,
} from '@ticks/core'
import { type Connection, createRoom, MemoryStore, type Peer, type Room } from '@ticks/server'
import * as Y from 'yjs'
import { createRandom, seededIds } from '../random.js'
import { requireMs, requirePositiveInteger, requireSeed } from '../validation.js'
import type { ServerClose } from './close-policy.js'
import { belowObservedMax, convergenceDiff, viewOf } from './convergence.js'
import { documentDiff, sameDocument } from './document-diff.js'
import { DurableView } from './durable-view.js'
import { checkFaults, emptyLinkStats, type Faults, Link, type LinkStats, NO_FAULTS } from './link.js'
import { Replica } from './replica.js'
import { Scheduler } from './scheduler.js'
import { type LawViolation, type StatusObservation, StatusObserver } from './status-observer.js'

export type { ServerClose } from './close-policy.js'
export type { Faults } from './link.js'
export type { Replica } from './replica.js'
export type { LawViolation, StatusObservation } from './status-observer.js'

/** Stands for the server in `partition()` groups. */
export const SERVER = 'server' as const
export type Node = Replica | typeof SERVER

export interface NetworkOptions {
  /**
   * Same seed, same operations ⇒ same run: every delay, drop, tie and message id comes from it.
   * Required: an integer from 0 to 2^32 − 1.
   */
  seed: number
  /** The conversation the network holds. Default: alice (owner) and bob (member). */
  conversation?: { id?: string; title?: string; members?: Record<string, Role> }
  /** Faults every link starts with (default: none, 1–5 ms delay). */
  faults?: Partial<Faults>
  /** Replicas mark what they integrate as delivered, as `@ticks/client` does. Default true. */
  autoDeliver?: boolean
  /** Simulated group-commit window of the server's sequencer, in ms. Default 5. */
  commitDelayMs?: number
  /**
   * Stamped messages the room keeps live before sealing older ones into history (DESIGN section
   * 12), as `ticks-server --history-window`. Default 1000, as the server; 0 never seals.
   */
  historyWindow?: number
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
  /**
   * Nodes in different groups cannot talk; nodes in neither group stay where they were. Replicas
   * talk only through the server, so a group without the server is cut off from it.
   */
  partition(groupA: readonly Node[], groupB: readonly Node[]): void
  /** Cut one replica off from everything. */
  isolate(replica: Replica): void
  /** Everyone can reach the server again; offline replicas reconnect, refused ones too (once). */
  heal(): void
  /** Change the faults on every link (or only on these replicas' links). */
  faults(faults: Partial<Faults>, only?: readonly Replica[]): void
  /** Advance simulated time by `ms` (finite, >= 0), running what falls due. */
  run(ms: number): Promise<void>
  /** Deliver everything pending, let the sequencer stamp, resync replicas left with gaps; repeat until quiet. */
  settle(options?: SettleOptions): Promise<void>
  /**
   * Throws with a readable diff unless every replica shows what the server shows (title, members,
   * messages) and holds the same document (state vector and delete set).
   */
  assertConverged(): void
  /** Throws if any replica ever saw a status go down, `sent` before durable, or `delivered` before integrated. */
  assertLaws(): void
  statusHistory(): readonly StatusObservation[]
  violations(): readonly LawViolation[]
  stats(): NetworkStats
  /**
   * Free the room and the replicas. Afterwards the records (`stats()`, `statusHistory()`,
   * `violations()`, `assertLaws()`) stay readable; anything else throws TicksError `closed`.
   */
  close(): Promise<void>
}

/** Replica and server state for one live connection. */
interface LiveConnection {
  up: Link
  down: Link
  room: Connection
}

const EPOCH = Date.UTC(2026, 0, 1)

export async function createNetwork(options: NetworkOptions): Promise<Network> {
  if (typeof options !== 'object' || options === null) {
    throw new TicksError('invalid-argument', 'createNetwork: pass options, at least { seed }')
  }
  const seed = requireSeed(options.seed, 'createNetwork')
  const initialFaults = checkFaults(options.faults ?? {}, 'createNetwork')
  const commitDelayMs = requireMs(options.commitDelayMs ?? 5, 'createNetwork: commitDelayMs')
  const random = createRandom(seed)
  const linkRandom = random.fork()
  const reconnectRandom = random.fork()
  const idRandom = random.fork()
  const messageIdRandom = random.fork()
  const scheduler = new Scheduler()
  const conversationId = options.conversation?.id ?? `sim-${seed}`
  const members = options.conversation?.members ?? { alice: 'owner', bob: 'member' }
  const autoDeliver = options.autoDeliver ?? true

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
  await durable.initialize(conversationId, Y.encodeStateAsUpdate(initial))
  initial.destroy()
  const room = await createRoom({
    id: conversationId,
    store: durable,
    // Real-time commits would make runs depend on the machine: the scheduler drives them.
    manualCommits: true,
    ...(options.historyWindow !== undefined && { historyWindow: options.historyWindow }),
    // Simulated time races through thousands of frames per real millisecond.
    limits: { messagesPerSecond: 1e9, burst: 1e9 },
    events: { refused: (closeCode, code) => refusals.push({ time: scheduler.now, closeCode, code }) },
    log: { info: (obj) => refusalLog.push(obj), warn() {}, error: (obj) => refusalLog.push(obj) },
  })
  // Awareness expiry runs on a real 3 s interval that would keep Node alive for a network nobody
  // closed. Replicas send no presence, so there is nothing for it to expire.
  clearInterval(room.awareness._checkInterval)

  let lastCreatedAt = EPOCH
  const clock = (): number => {
    // Strictly increasing, so unsequenced messages never tie and fall back to their random ids.
    lastCreatedAt = Math.max(lastCreatedAt + 1, EPOCH + scheduler.now)
    return lastCreatedAt
  }

  let defaultFaults: Faults = { ...NO_FAULTS, ...initialFaults }
  const faultsByReplica = new Map<Replica, Faults>()
  const linkStats = emptyLinkStats()
  const history: StatusObservation[] = []
  const violations: LawViolation[] = []
  const replicas: Replica[] = []
  const connections = new Map<Replica, LiveConnection>()
  const reconnectPending = new Set<Replica>()
  /** Replicas cannot reach the server; they reach each other only through it, so this is the whole topology. */
  const cutOff = new Set<Replica>()
  const counters = { connects: 0, resyncs: 0, serverCloses: {} as Record<string, number> }
  let commitScheduled = false
  let closed = false

  const reachable = (replica: Replica): boolean => !cutOff.has(replica)
  const faultsOf = (replica: Replica) => () => faultsByReplica.get(replica) ?? defaultFaults

  const assertOpen = (): void => {
    if (closed) throw new TicksError('closed', `network (seed ${seed}) is closed`)
  }
  const assertOwnReplica = (node: unknown, where: string, orServer = false): Replica => {
    if (node instanceof Replica && replicas.includes(node)) return node
    const shown = node instanceof Replica ? `${node.name} (of another network)` : JSON.stringify(node)
    const expected = orServer
      ? 'neither a replica of this network nor network.server'
      : 'not a replica of this network'
    throw new TicksError('invalid-argument', `${where}: ${shown} is ${expected}`)
  }

  room.doc.on('update', (_update: Uint8Array, origin: unknown) => {
    if (origin === SEQUENCER_ORIGIN || commitScheduled || closed) return
    commitScheduled = true
    scheduler.after(commitDelayMs, 'server commit', async () => {
      commitScheduled = false
      if (!closed) await room.flush()
    })
  })

  // A sealed message counts as integrated (it is in the history every member can page in), as
  // core's integratedPrefix() says.
  const holdsMessage = (userId: string, messageId: string): boolean =>
    replicas.some((replica) => {
      if (replica.userId !== userId) return false
      const index = replica.conversation.conversationIndex
      const seq = durable.seqOf(messageId)
      return (
        index.messages.has(messageId) ||
        index.discarded.has(messageId) ||
        index.history.has(messageId) ||
        (seq !== undefined && seq <= index.sealedThrough)
      )
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
    if (reconnectPending.has(replica) || replica.stopped) return
    reconnectPending.add(replica)
    // Clients back off with jitter; the spread keeps reconnects from landing at the same instant.
    scheduler.after(reconnectRandom.int(10, 100), `${replica.name} reconnect`, () => {
      reconnectPending.delete(replica)
      if (!replica.stopped) connectNow(replica)
    })
  }

  const connectNow = (replica: Replica): void => {
    if (!closed && !connections.has(replica) && reachable(replica)) connect(replica)
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
          counters.serverCloses[code] = (counters.serverCloses[code] ?? 0) + 1
          if (connections.get(replica) === live) disconnect(replica)
          const retries = replica.serverClosed({ time: scheduler.now, code, reason })
          if (retries && reachable(replica)) scheduleReconnect(replica)
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

  /** Why a connected replica needs the sync handshake again, if it does. */
  const staleness = (replica: Replica): string | undefined => {
    if (replica.hasGaps) return 'waits for updates it never received'
    // Deletions count too: a lost one leaves the state vectors equal.
    if (!sameDocument(replica.doc, room.doc)) return "its document differs from the server's"
    return undefined
  }

  const offlineLine = (replica: Replica): string => {
    const stop = replica.stopped
    const why = stop ? 'refused' : reachable(replica) ? 'reconnecting' : 'partitioned'
    const last: ServerClose | undefined = replica.closes.at(-1)
    const lastClose = last
      ? `; last close ${last.code} ${JSON.stringify(last.reason)} at t=${last.time}ms`
      : ''
    return `${replica.name} is offline (${why}${lastClose})`
  }

  const serverView = (history: readonly HistoryMessage[]) => {
    const conversation = new Conversation(room.doc, { userId: SERVER })
    conversation.addHistory(history)
    try {
      return viewOf('server', conversation)
    } finally {
      conversation.destroy()
    }
  }

  const network: Network = {
    seed,
    conversationId,
    room,
    server: SERVER,
    get now() {
      return scheduler.now
    },

    replica(userId, deviceId = 'd1') {
      assertOpen()
      // Both end up in keys the room checks (`u:<userId>`, `r|<deviceId>`): a bad one would be refused.
      for (const [what, id] of [
        ['userId', userId],
        ['deviceId', deviceId],
      ] as const) {
        if (typeof id !== 'string' || !isValidId(id)) {
          throw new TicksError('invalid-argument', `replica(): invalid ${what} ${JSON.stringify(id)}`)
        }
      }
      const existing = replicas.find((r) => r.userId === userId && r.deviceId === deviceId)
      if (existing) return existing
      const replica = new Replica(userId, deviceId, {
        conversationId,
        clientId: nextClientId(),
        receiptClientId: nextClientId(),
        now: clock,
        newId: seededIds(messageIdRandom.fork()),
        afterReceive: (r) => {
          if (autoDeliver) r.markDelivered()
        },
        connect: (r) => {
          assertOpen()
          connectNow(r)
        },
      })
      const observer = new StatusObserver(
        replica.name,
        replica.conversation,
        () => scheduler.now,
        history,
        violations,
        (messageId) => durable.seqOf(messageId),
        holdsMessage,
      )
      replica.conversation.onChange(() => observer.observe())
      replicas.push(replica)
      if (reachable(replica)) connect(replica)
      return replica
    },

    replicas: () => [...replicas],

    partition(groupA, groupB) {
      assertOpen()
      const sideOf = new Map<Node, 'A' | 'B'>()
      for (const [side, group] of [
        ['A', groupA],
        ['B', groupB],
      ] as const) {
        for (const node of group) {
          if (node !== SERVER) assertOwnReplica(node, `partition(): group ${side}`, true)
          if (sideOf.get(node) === (side === 'A' ? 'B' : 'A')) {
            const name = node === SERVER ? SERVER : node.name
            throw new TicksError('invalid-argument', `partition(): ${name} is in both groups`)
          }
          sideOf.set(node, side)
        }
      }
      const serverSide = sideOf.get(SERVER)
      for (const [node, side] of sideOf) {
        if (node === SERVER) continue
        if (side === serverSide) cutOff.delete(node)
        else cutOff.add(node)
      }
      applyReachability()
    },

    isolate(replica) {
      assertOpen()
      cutOff.add(assertOwnReplica(replica, 'isolate()'))
      applyReachability()
    },

    heal() {
      assertOpen()
      cutOff.clear()
      for (const replica of replicas) replica.clearStop()
      applyReachability()
    },

    faults(faults, only) {
      assertOpen()
      const checked = checkFaults(faults, 'faults()')
      if (!only) {
        defaultFaults = { ...defaultFaults, ...checked }
        for (const [replica, own] of faultsByReplica) faultsByReplica.set(replica, { ...own, ...checked })
        return
      }
      for (const replica of only.map((r) => assertOwnReplica(r, 'faults()')))
        faultsByReplica.set(replica, { ...(faultsByReplica.get(replica) ?? defaultFaults), ...checked })
    },

    async run(ms) {
      assertOpen()
      await scheduler.runUntil(scheduler.now + requireMs(ms, 'run()'))
    },

    async settle({ maxRounds = 500 } = {}) {
      assertOpen()
      requirePositiveInteger(maxRounds, 'settle(): maxRounds')
      let stale: { replica: Replica; why: string }[] = []
      for (let round = 0; round < maxRounds; round++) {
        await scheduler.runUntilIdle()
        stale = replicas.flatMap((replica) => {
          const why = connections.has(replica) ? staleness(replica) : undefined
          return why === undefined ? [] : [{ replica, why }]
        })
        if (stale.length === 0) return
        // What a lost frame left behind is repaired the way a client repairs it: reconnect and
        // run the sync handshake again.
        for (const { replica } of stale) {
          counters.resyncs++
          disconnect(replica)
          scheduleReconnect(replica)
        }
      }
      const names = stale.map(({ replica, why }) => `${replica.name} (${why})`).join(', ')
      throw new Error(
        `network (seed ${seed}) did not settle within ${maxRounds} resync rounds; still stale: ${names}`,
      )
    },

    assertConverged() {
      assertOpen()
      // Sealed messages show where the app paged them in: page everything in everywhere first.
      const sealed = durable.sealed()
      const reference = serverView(sealed)
      const online = replicas.filter((r) => connections.has(r))
      for (const replica of online) replica.conversation.addHistory(sealed)
      const offline = replicas.filter((r) => !connections.has(r))
      const lines = convergenceDiff(
        reference,
        online.map((r) => viewOf(r.name, r.conversation)),
      )
      lines.unshift(...offline.map(offlineLine))
      for (const replica of online) lines.push(...documentDiff(replica.name, replica.doc, room.doc, 'server'))
      lines.push(...belowObservedMax(reference, history))
      if (lines.length > 0) {
        const shown = lines.slice(0, 30)
        if (lines.length > shown.length) shown.push(`… and ${lines.length - shown.length} more`)
        throw new Error(
          `replicas have not converged (seed ${seed}, t=${scheduler.now}ms):\n  ${shown.join('\n  ')}`,
        )
      }
    },

    assertLaws() {
      if (violations.length === 0) return
      const shown = violations.slice(0, 30).map((v) => `[${v.law}] ${v.message}`)
      throw new Error(`status laws violated (seed ${seed}):\n  ${shown.join('\n  ')}`)
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

import type { Limits, Role } from '@ticks/core'
import { DEFAULT_LIMITS } from '@ticks/core'
import type { PubSub } from '../relay/pubsub.js'
import type { Store } from '../store/store.js'
import { isSyncStep2 } from './protocol.js'
import type { Room } from './room.js'

/**
 * One side of a connection, as the room sees it: whatever carries bytes (a WebSocket, the
 * testkit's simulated link). `send` gets whole y-websocket frames; `close` ends the connection
 * with a WebSocket close code (4400, 4403, 4413, 4429, 1011, 1012…) and a human reason.
 */
export interface Peer {
  userId: string
  /** Overrides the role read from the conversation meta (tests); normally leave it out. */
  role?: Role
  /**
   * The transport's own logger (a socket's, bound to its upgrade's request id): the room's lines
   * about this peer's input and refusals go there, so they carry that id. Else the room's logger.
   */
  log?: RoomLogger
  send(frame: Uint8Array): void
  close(code: number, reason: string): void
}

/** What `room.connect` returns: feed it the peer's frames; call `disconnect` when the link is gone. */
export interface Connection {
  receive(frame: Uint8Array): void
  disconnect(): void
}

export interface RoomLimits {
  /** Largest frame accepted from a peer (4413 beyond), but for sync step 2. */
  maxFrameBytes: number
  /**
   * Largest sync step 2 accepted (4413 beyond). It carries everything a replica wrote while
   * offline, as one frame (y-websocket does not split it): a long offline stretch must not make
   * a replica's outbox unsendable for good, as the live-update limit would.
   */
  maxSyncFrameBytes: number
  /** Per-connection token bucket (4429 when empty). */
  messagesPerSecond: number
  burst: number
  /** Message text and id bounds, as in core. */
  model: Limits
}

export const DEFAULT_ROOM_LIMITS: RoomLimits = {
  maxFrameBytes: 1024 * 1024,
  maxSyncFrameBytes: 16 * 1024 * 1024,
  messagesPerSecond: 200,
  burst: 400,
  model: DEFAULT_LIMITS,
}

export interface CompactionPolicy {
  maxEntries: number
  maxBytes: number
}

/** A pino-compatible subset, so the room logs through Fastify's logger or nothing. */
export interface RoomLogger {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

/** Hooks for metrics; all optional. */
export interface RoomEvents {
  updateIn(bytes: number): void
  frameOut(bytes: number): void
  refused(closeCode: number, code: string): void
  persisted(seconds: number, updates: number): void
  /** A commit failed: the room is poisoned (its sockets closed), and the store may be failing. */
  persistFailed(error: unknown): void
  /** A stored entry could not be loaded and was quarantined (see `loadDocument`). */
  quarantined(): void
  /** A checked update broke Yjs anyway (a defect in the write rules): the room was reloaded. */
  defect(): void
  /** Several nodes: this node started / stopped stamping a conversation. */
  leaseGained(): void
  leaseLost(): void
  /** Several nodes: a relay message in or out; entries read from the store to catch up. */
  relayed(direction: 'in' | 'out'): void
  caughtUp(entries: number): void
  /** Several nodes: a commit lost an id race to another node's (see `ClaimConflictError`). */
  claimConflict(): void
}

/**
 * Several nodes serve this conversation (DESIGN section 10): each keeps a replica room that commits
 * its sockets' updates to the shared store and relays them; the one holding the sequencer lease
 * stamps.
 */
export interface RoomCluster {
  nodeId: string
  relay: PubSub
  /** Sequencer lease length (default 5 s): a dead owner's conversations wait this long. */
  leaseMs?: number
  /** Lease renewal, and takeover attempts by the other nodes (default 1 s). */
  renewMs?: number
  /** Store reads while the relay is down, and the longest a relay gap stays open (default 0.5 s). */
  pollMs?: number
}

export interface RoomOptions {
  id: string
  store: Store
  /** Several nodes serve the conversation; leave out for a single node. */
  cluster?: RoomCluster
  /** Extra wait before a commit, so more updates share it (default 0: the next turn). */
  commitWindowMs?: number
  /**
   * The host commits by calling `flush()` (the testkit, on simulated time) and the room arms no
   * timer of its own, so a simulation neither depends on nor is kept alive by real time. Default false.
   */
  manualCommits?: boolean
  limits?: Partial<RoomLimits>
  compaction?: CompactionPolicy
  /**
   * Sequenced messages the live document keeps (DESIGN section 12); older ones are sealed into the
   * store's history. Default 1000; 0 keeps everything (no sealing).
   */
  historyWindow?: number
  log?: RoomLogger
  events?: Partial<RoomEvents>
  /**
   * Called once the room dropped its sockets and stopped, after a failed commit or a defect: what it
   * held can no longer be trusted, so the host reloads the conversation from the store.
   */
  onPoisoned?: (room: Room) => void
  /** Persist latency above which a warning is logged. */
  slowCommitMs?: number
}

export type RoomErrorCode = 'not-found' | 'load-failed' | 'closed' | 'busy'

export class RoomError extends Error {
  constructor(
    readonly code: RoomErrorCode,
    message: string,
  ) {
    super(message)
    this.name = 'RoomError'
  }
}

/** The size limit of a frame: sync step 2 has its own. */
export function frameLimit(
  limits: Pick<RoomLimits, 'maxFrameBytes' | 'maxSyncFrameBytes'>,
  frame: Uint8Array,
): number {
  return isSyncStep2(frame) ? Math.max(limits.maxSyncFrameBytes, limits.maxFrameBytes) : limits.maxFrameBytes
}

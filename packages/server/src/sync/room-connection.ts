import type { Speaker } from './presence.js'
import { monotonicNow, type TokenBucket, takeToken } from './rate-limiter.js'
import type { Connection, Peer, RoomEvents, RoomLimits } from './room-options.js'

/** What a connection hands to its room: the room itself, so that no socket needs closures of its own. */
export interface ConnectionHost {
  receive(connection: RoomConnection, frame: Uint8Array): void
  disconnect(connection: RoomConnection): void
}

/**
 * A peer inside a room: its rate limit and the awareness client ids it speaks for; also the
 * transport's handle on the room (`Connection`), as methods rather than closures over it (each
 * closure, with its context, is heap that every idle socket holds).
 */
export class RoomConnection implements Speaker, Connection, TokenBucket {
  /**
   * Its token bucket (`messagesPerSecond`, `burst`), kept here rather than in a `RateLimiter`:
   * one object fewer for every idle socket.
   */
  tokens: number
  last: number
  /** The presence ids it speaks for; null until it announces one (see `Speaker`). */
  awarenessClients: Set<number> | null = null
  closed = false
  /** Sync replies held back until the room is durable (see `answerSyncStep1`). */
  repliesPending = 0
  /** Frames that wait while a refusal is judged again after catching up (several nodes; else null). */
  waiting: Uint8Array[] | null = null
  /** The frame handled now is being judged again: refuse it if it still breaks a rule. */
  rejudging = false

  get userId(): string {
    return this.peer.userId
  }

  constructor(
    readonly peer: Peer,
    private readonly limits: RoomLimits,
    private readonly events: Partial<RoomEvents>,
    private readonly room: ConnectionHost,
  ) {
    this.tokens = limits.burst
    this.last = monotonicNow()
  }

  /** Take a token for a frame; false when the bucket is empty (the room refuses with 4429). */
  takeToken(): boolean {
    return takeToken(this, this.limits.messagesPerSecond, this.limits.burst, monotonicNow())
  }

  receive(frame: Uint8Array): void {
    this.room.receive(this, frame)
  }

  disconnect(): void {
    this.room.disconnect(this)
  }

  send(frame: Uint8Array): void {
    if (this.closed) return
    try {
      this.peer.send(frame)
      this.events.frameOut?.(frame.byteLength)
    } catch {
      this.close(1011, 'send failed')
    }
  }

  close(code: number, reason: string): void {
    if (this.closed) return
    this.closed = true
    // Free the room's side at once; the transport's own disconnect call is then a no-op.
    this.room.disconnect(this)
    try {
      this.peer.close(code, reason)
    } catch {
      // The transport is already gone.
    }
  }
}

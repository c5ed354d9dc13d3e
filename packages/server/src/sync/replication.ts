import type { PubSub } from '../relay/pubsub.js'
import {
  type RelayFrame,
  readRelayFrame,
  writeCommitted,
  writeRelayAwareness,
} from '../relay/relay-frames.js'
import type { Store } from '../store/store.js'
import type { RoomLogger } from './room.js'

export interface ReplicationOptions {
  store: Store
  relay: PubSub
  docId: string
  nodeId: string
  /** The last store entry the document was loaded with. */
  loadedThrough: number
  /** How often the store is read while the relay is down, and how long a gap may stay open. */
  pollMs: number
  log: RoomLogger
  /** Apply updates another node committed (durable already: show them, never store them again). */
  applyCommitted(updates: readonly Uint8Array[]): void
  /** Apply presence another node's user announced. */
  applyAwareness(userId: string, update: Uint8Array): void
  /** For metrics: a relay message in or out, and entries read from the store to catch up. */
  events?: { relayed?(direction: 'in' | 'out'): void; caughtUp?(entries: number): void }
}

/**
 * Keeps one node's copy of a conversation level with the store when several nodes serve it
 * (DESIGN section 10). Every commit is published with its store entry numbers; a node applies what
 * others published **in entry order** and tracks the highest entry up to which it holds
 * everything. In order, because an update may delete what an earlier entry brought, and a deletion
 * that arrives first would be dropped (deletions of items a room lacks are never kept): commits
 * that overtake each other on the relay wait in a reorder buffer. A gap that stays open (a lost
 * relay message), a relay reconnect, and, while the relay is down, every `pollMs`, make the node
 * read the store from there: the relay only makes things fast, the store makes them right.
 */
export class Replication {
  /** Every entry up to here is in the document. */
  private through: number
  /**
   * Commits beyond `through`, by first entry, waiting for the gap before them to close: others'
   * with their updates (not applied yet), this node's own without (applied when made).
   */
  private readonly ahead = new Map<number, { lastEntry: number; updates: readonly Uint8Array[] | null }>()
  private gapSince: number | undefined
  /** The last entry this node committed, and whether a publish of it (or before it) was dropped. */
  private ownTip = 0
  private tipUnannounced = false
  private catchingUp: Promise<boolean> | undefined
  private unsubscribe: Promise<() => Promise<void>> | undefined
  private readonly offStatus: () => void
  private readonly timer: ReturnType<typeof setInterval>
  private stopped = false

  constructor(private readonly options: ReplicationOptions) {
    this.through = options.loadedThrough
    // Not awaited: while Redis is down a subscription waits for it, and the room must not.
    this.unsubscribe = options.relay.subscribe(options.docId, (bytes) => this.receive(bytes))
    this.unsubscribe.catch((error: unknown) => {
      options.log.warn({ room: options.docId, err: error }, 'relay: could not subscribe; polling the store')
    })
    this.offStatus = options.relay.onStatus((connected) => {
      if (!connected) return
      // What the others published meanwhile is lost to us, and ours to them.
      void this.catchUp()
      this.announceTip()
    })
    this.timer = setInterval(() => this.poll(), options.pollMs)
    this.timer.unref?.()
  }

  /** The highest entry up to which this node holds everything: what a snapshot may fold in. */
  get appliedThrough(): number {
    return this.through
  }

  /** This node stored `updates` as entries `firstEntry` … `lastEntry`: tell the others. */
  committed(firstEntry: number, lastEntry: number, updates: readonly Uint8Array[]): void {
    this.arrived(firstEntry, lastEntry, null)
    this.ownTip = Math.max(this.ownTip, lastEntry)
    this.publish(writeCommitted(this.options.nodeId, firstEntry, lastEntry, updates))
  }

  /**
   * A dropped publish leaves the others unaware of an entry until a later one reveals the gap,
   * which may never come (the last message of a conversation). So after one, the tip is sent
   * again until the relay takes it.
   */
  private publish(frame: Uint8Array): void {
    this.options.events?.relayed?.('out')
    void this.options.relay.publish(this.options.docId, frame).then((sent) => {
      if (!sent) this.tipUnannounced = true
    })
  }

  private announceTip(): void {
    if (this.ownTip === 0) return
    this.tipUnannounced = false
    this.publish(writeCommitted(this.options.nodeId, this.ownTip, this.ownTip, []))
  }

  /** Presence of a local user, for the other nodes' sockets. */
  announce(userId: string, update: Uint8Array): void {
    void this.options.relay.publish(
      this.options.docId,
      writeRelayAwareness(this.options.nodeId, userId, update),
    )
  }

  /**
   * Read everything after `appliedThrough` from the store and apply it (one read at a time; a
   * call during a read waits for it and reads again, so nothing committed before the call is
   * missed). Resolves false when the store could not be read.
   */
  catchUp(): Promise<boolean> {
    this.catchingUp = (this.catchingUp ?? Promise.resolve()).then(() => this.readStore())
    return this.catchingUp
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearInterval(this.timer)
    this.offStatus()
    const unsubscribe = await this.unsubscribe?.catch(() => undefined)
    await unsubscribe?.().catch(() => undefined)
    await this.catchingUp?.catch(() => undefined)
  }

  private receive(bytes: Uint8Array): void {
    if (this.stopped) return
    const frame: RelayFrame | undefined = readRelayFrame(bytes)
    if (!frame || frame.nodeId === this.options.nodeId) return
    this.options.events?.relayed?.('in')
    if (frame.type === 'awareness') {
      this.options.applyAwareness(frame.userId, frame.update)
      return
    }
    if (frame.lastEntry <= this.through) return // read from the store already
    if (frame.updates.length === 0) {
      void this.catchUp() // a tip: there is more in the store than we hold
      return
    }
    this.arrived(frame.firstEntry, frame.lastEntry, frame.updates)
  }

  /** A commit is known: apply it if it is next (with whatever it lets follow), else hold it. */
  private arrived(firstEntry: number, lastEntry: number, updates: readonly Uint8Array[] | null): void {
    if (firstEntry > this.through + 1) {
      this.ahead.set(firstEntry, { lastEntry, updates })
      this.gapSince ??= Date.now()
      return
    }
    if (updates && lastEntry > this.through) this.options.applyCommitted(updates)
    this.through = Math.max(this.through, lastEntry)
    this.releaseAhead()
  }

  /** Apply, in order, the held commits that the entries now held reach. */
  private releaseAhead(): void {
    for (;;) {
      let next: number | undefined
      for (const [first, held] of this.ahead) {
        if (held.lastEntry <= this.through)
          this.ahead.delete(first) // read from the store meanwhile
        else if (first <= this.through + 1 && (next === undefined || first < next)) next = first
      }
      if (next === undefined) break
      const held = this.ahead.get(next)!
      this.ahead.delete(next)
      if (held.updates) this.options.applyCommitted(held.updates)
      this.through = Math.max(this.through, held.lastEntry)
    }
    if (this.ahead.size === 0) this.gapSince = undefined
  }

  private poll(): void {
    if (this.stopped) return
    const gapOpen = this.gapSince !== undefined && Date.now() - this.gapSince >= this.options.pollMs
    if (gapOpen || !this.options.relay.connected) void this.catchUp().catch(() => undefined)
    if (this.tipUnannounced && this.options.relay.connected) this.announceTip()
  }

  private async readStore(): Promise<boolean> {
    if (this.stopped) return false
    const { store, docId, log } = this.options
    let entries: Awaited<ReturnType<Store['loadSince']>>
    try {
      entries = await store.loadSince(docId, this.through)
    } catch (error) {
      log.warn({ room: docId, err: error }, 'catch-up: could not read the store')
      return false
    }
    if (this.stopped || !entries) return false
    if (entries.length === 0) return true
    this.options.events?.caughtUp?.(entries.length)
    this.options.applyCommitted(entries.map(({ update }) => update))
    this.through = Math.max(this.through, entries[entries.length - 1]!.entry)
    this.releaseAhead()
    return true
  }
}

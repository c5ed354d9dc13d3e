import type { Lease, Store } from '../store/store.js'
import type { RoomLogger } from './room.js'

export interface SequencerLeaseOptions {
  store: Store
  docId: string
  nodeId: string
  /** How long a lease lasts without renewal: a dead owner's conversations wait this long. */
  leaseMs: number
  /** How often the holder renews and the others try to take it (well under `leaseMs`). */
  renewMs: number
  log: RoomLogger
  /** This node now holds the lease (at a new epoch, or again after losing it). */
  onGained(lease: Lease): void
  /** This node no longer holds it: it must stamp nothing more (a stamp in flight is fenced). */
  onLost(): void
}

/**
 * One conversation's sequencer lease as seen by one node (DESIGN section 10): exactly one node
 * stamps a conversation at a time. The holder renews it every `renewMs`; every other node that has
 * the conversation open tries to take it as often, so a dead owner's conversations get a new one
 * within `leaseMs + renewMs`. The epoch fences stamps: the store refuses an append whose epoch is
 * no longer the lease's, so a holder paused past its lease cannot stamp when it wakes.
 */
export class SequencerLease {
  private held: Lease | undefined
  private timer: ReturnType<typeof setInterval> | undefined
  private ticking: Promise<void> = Promise.resolve()
  private stopped = false

  constructor(private readonly options: SequencerLeaseOptions) {}

  /** What a stamp commit carries so the store can refuse it once the lease is gone. */
  get fence(): { nodeId: string; epoch: number } | undefined {
    return this.held && { nodeId: this.options.nodeId, epoch: this.held.epoch }
  }

  get isHeld(): boolean {
    return this.held !== undefined
  }

  start(): void {
    this.tick()
    this.timer = setInterval(() => this.tick(), this.options.renewMs)
    this.timer.unref?.()
  }

  /** The store refused a fenced append: the lease was lost before we noticed. */
  lost(): void {
    if (!this.held) return
    this.held = undefined
    this.options.onLost()
  }

  /** Stop renewing and hand the lease back at once, so another node need not wait for it to expire. */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearInterval(this.timer)
    await this.ticking
    const held = this.held
    this.held = undefined
    if (held) {
      this.options.onLost()
      await this.options.store
        .releaseLease(this.options.docId, this.options.nodeId, held.epoch)
        .catch(() => undefined)
    }
  }

  private tick(): void {
    this.ticking = this.ticking.then(() => this.renewOrTake())
  }

  private async renewOrTake(): Promise<void> {
    if (this.stopped) return
    const { store, docId, nodeId, leaseMs, log } = this.options
    try {
      if (this.held) {
        const renewed = await store.renewLease(docId, nodeId, this.held.epoch, leaseMs)
        if (!renewed && !this.stopped) {
          log.warn({ room: docId, epoch: this.held.epoch }, 'lost the sequencer lease')
          this.lost()
        }
        return
      }
      const lease = await store.acquireLease(docId, nodeId, leaseMs)
      if (lease && !this.stopped) {
        this.held = lease
        log.info({ room: docId, epoch: lease.epoch }, 'took the sequencer lease')
        this.options.onGained(lease)
      }
    } catch (error) {
      // The store is unreachable: a lease we cannot renew may expire under us, so stop stamping
      // now rather than have every stamp fenced later.
      log.warn({ room: docId, err: error }, 'sequencer lease: store unreachable')
      this.lost()
    }
  }
}

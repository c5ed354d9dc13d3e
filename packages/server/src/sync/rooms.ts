import { createRoom, type Room, RoomError, type RoomOptions } from './room.js'

export interface RoomRegistryOptions extends Omit<RoomOptions, 'id' | 'onPoisoned'> {
  /** Most rooms in memory; opening one more evicts the least recently used idle room. */
  maxRooms?: number
  /** An idle room (no lease) is flushed and unloaded after this long. */
  idleUnloadMs?: number
}

/** A claim on an open room; the room may be unloaded only when every lease is released. */
export interface RoomLease {
  room: Room
  release(): void
}

interface Entry {
  id: string
  loading: Promise<Room>
  room: Room | undefined
  leases: number
  idleTimer: ReturnType<typeof setTimeout> | null
  unloading: Promise<void> | null
}

/**
 * The open rooms of one server: loads a room on first use, keeps idle ones in LRU order, unloads
 * them after flushing, and never opens two rooms (two sequencers) for one conversation — a room
 * being unloaded finishes its flush before the conversation can be opened again.
 */
export class RoomRegistry {
  private readonly entries = new Map<string, Entry>()
  private readonly maxRooms: number
  private readonly idleUnloadMs: number
  private closing = false

  constructor(private readonly options: RoomRegistryOptions) {
    this.maxRooms = options.maxRooms ?? 10_000
    this.idleUnloadMs = options.idleUnloadMs ?? 30_000
  }

  get size(): number {
    return this.entries.size
  }

  /** Open rooms, for /api/state and metrics. */
  openRooms(): Room[] {
    return [...this.entries.values()].flatMap((entry) => (entry.room ? [entry.room] : []))
  }

  /** Open (or reuse) the room of `id`. Rejects with RoomError not-found / load-failed / closed. */
  async acquire(id: string): Promise<RoomLease> {
    for (;;) {
      if (this.closing) throw new RoomError('closed', 'server is shutting down')
      let entry = this.entries.get(id)
      if (entry?.unloading) {
        await entry.unloading
        continue
      }
      if (!entry) {
        this.evictForRoom()
        if (this.entries.size - this.unloadingCount() >= this.maxRooms) {
          throw new RoomError('busy', 'too many open conversations, try again later')
        }
        entry = this.load(id)
      }
      entry.leases++
      if (entry.idleTimer) clearTimeout(entry.idleTimer)
      entry.idleTimer = null
      // Most recently used last: Map keeps insertion order.
      this.entries.delete(id)
      this.entries.set(id, entry)
      let room: Room
      try {
        room = await entry.loading
      } catch (error) {
        entry.leases--
        throw error
      }
      if (!room.isOpen) {
        // Poisoned (or closing) while we waited: once it has stopped, with its last commit on disk,
        // it is gone from the map and the next turn reloads it from the store.
        entry.leases--
        await room.stopped
        continue
      }
      return new Lease(this, entry, room)
    }
  }

  /** Flush every room and close its connections with 1012; afterwards nothing can be acquired. */
  async closeAll(code = 1012, reason = 'server restarting'): Promise<void> {
    this.closing = true
    const entries = [...this.entries.values()]
    await Promise.all(
      entries.map(async (entry) => {
        if (entry.idleTimer) clearTimeout(entry.idleTimer)
        const room = await entry.loading.catch(() => undefined)
        await entry.unloading
        await room?.close(code, reason)
      }),
    )
    this.entries.clear()
  }

  private load(id: string): Entry {
    const entry: Entry = {
      id,
      loading: undefined!,
      room: undefined,
      leases: 0,
      idleTimer: null,
      unloading: null,
    }
    entry.loading = createRoom(
      roomOptions(this.options, id, () => {
        if (this.entries.get(id) === entry) this.entries.delete(id)
      }),
    ).then(
      (room) => {
        entry.room = room
        return room
      },
      (error: unknown) => {
        // A failed load leaves nothing behind that could later write over the stored document.
        if (this.entries.get(id) === entry) this.entries.delete(id)
        throw error
      },
    )
    // Rejections are handled by whoever awaits the entry; this keeps Node from warning meanwhile.
    entry.loading.catch(() => {})
    this.entries.set(id, entry)
    return entry
  }

  /** For `Lease` only: its entry's leases count down, and a room left without one idles. */
  releaseLease(entry: Entry): void {
    entry.leases--
    if (entry.leases > 0 || this.entries.get(entry.id) !== entry || this.closing) return
    entry.idleTimer = setTimeout(() => this.unload(entry), this.idleUnloadMs)
    entry.idleTimer.unref?.()
  }

  private evictForRoom(): void {
    if (this.entries.size < this.maxRooms) return
    for (const entry of this.entries.values()) {
      if (entry.leases === 0 && !entry.unloading && entry.room) {
        this.unload(entry)
        if (this.entries.size - this.unloadingCount() < this.maxRooms) return
      }
    }
  }

  private unloadingCount(): number {
    let count = 0
    for (const entry of this.entries.values()) if (entry.unloading) count++
    return count
  }

  private unload(entry: Entry): void {
    if (entry.leases > 0 || entry.unloading || !entry.room) return
    if (entry.idleTimer) clearTimeout(entry.idleTimer)
    entry.idleTimer = null
    const room = entry.room
    entry.unloading = room
      .close(1001, 'room unloaded')
      .catch(() => {})
      .finally(() => {
        if (this.entries.get(entry.id) === entry) this.entries.delete(entry.id)
      })
  }
}

/**
 * A class rather than an object with a `once` closure: a lease lives as long as its socket, and the
 * object, the closure and the one it wrapped were about 0.24 KiB of heap per idle socket.
 */
class Lease implements RoomLease {
  private released = false

  constructor(
    private readonly registry: RoomRegistry,
    private readonly entry: Entry,
    readonly room: Room,
  ) {}

  /** Only the first call counts. */
  release(): void {
    if (this.released) return
    this.released = true
    this.registry.releaseLease(this.entry)
  }
}

/** Every key of `T`, each required but allowed to be undefined: a literal of it must list them all. */
type EveryKey<T> = { [K in keyof Required<T>]: T[K] }

/**
 * A room's options, field by field: a spread of the registry's options followed by new keys gave
 * every room's copy (which the room keeps) a hidden class of its own, 0.37 KiB a room in the idle
 * bench's heap diff. A literal with every key in one order shares one; `EveryKey` makes the
 * compiler name any option added to `RoomOptions` and not passed on here.
 */
function roomOptions(
  options: RoomRegistryOptions,
  id: string,
  onPoisoned: NonNullable<RoomOptions['onPoisoned']>,
): RoomOptions {
  const roomOptions: EveryKey<RoomOptions> = {
    id,
    store: options.store,
    cluster: options.cluster,
    commitWindowMs: options.commitWindowMs,
    manualCommits: options.manualCommits,
    limits: options.limits,
    compaction: options.compaction,
    historyWindow: options.historyWindow,
    log: options.log,
    events: options.events,
    onPoisoned,
    slowCommitMs: options.slowCommitMs,
  }
  return roomOptions
}

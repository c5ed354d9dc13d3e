import * as awarenessProtocol from 'y-protocols/awareness'
import type * as Y from 'yjs'
import {
  type AwarenessEntry,
  ProtocolError,
  readAwarenessEntries,
  writeAwarenessEntries,
} from './protocol.js'

/** Presence ids one socket may announce (one per tab sharing it; stock clients announce one). */
const MAX_CLIENTS_PER_SPEAKER = 16

/** Whoever sends presence: a socket of a user, with the awareness ids it speaks for. */
export interface Speaker {
  readonly userId: string
  /** Null until it announces one: most sockets never do, and an empty Set costs ~150 B each. */
  awarenessClients: Set<number> | null
}

export interface PresenceHooks {
  /** Every change, as an awareness update, for every socket of the room. */
  broadcast(update: Uint8Array): void
  /** A change a local speaker made, for the other nodes (several nodes). */
  announce(userId: string, update: Uint8Array): void
}

/**
 * A room's presence (y-protocols awareness) and who may speak for which id. The first user to
 * announce a client id with a state owns it for the room's lifetime (ids are random per document
 * session): presence cannot be spoofed, and the write rules refuse structs under a client id
 * another user announced (`claimedByOther`). Stock y-websocket clients echo every awareness change
 * they see, others' included, so foreign entries are dropped, not refused.
 */
export class Presence {
  /**
   * Made when the room first hears presence: most rooms never do (a client sends none until its
   * user types), and an Awareness holds three Maps and a timer (the idle bench's heap, per room).
   */
  private current: awarenessProtocol.Awareness | null = null
  /** Who announced each client id; made with the first announcement. */
  private owners: Map<number, string> | null = null

  constructor(
    private readonly doc: Y.Doc,
    private readonly hooks: PresenceHooks,
  ) {}

  get awareness(): awarenessProtocol.Awareness {
    if (this.current) return this.current
    const awareness = new awarenessProtocol.Awareness(this.doc)
    awareness.setLocalState(null)
    awareness.on('update', this.onUpdate)
    this.current = awareness
    return awareness
  }

  /** Every state, for a socket that just connected or asked; undefined when there is none. */
  snapshot(): Uint8Array | undefined {
    if (!this.current) return undefined
    const clients = [...this.current.getStates().keys()]
    return clients.length === 0 ? undefined : awarenessProtocol.encodeAwarenessUpdate(this.awareness, clients)
  }

  /** Whether a Yjs client id nothing in the document holds yet was announced by another user. */
  claimedByOther(client: number, userId: string): boolean {
    return (this.owners?.get(client) ?? userId) !== userId
  }

  /**
   * Apply what a local speaker sent, cut down to the ids it may speak for. Throws ProtocolError
   * on bytes that do not decode and on a speaker announcing more ids than any replica has.
   */
  receive(update: Uint8Array, speaker: Speaker): void {
    const entries = readAwarenessEntries(update)
    // A socket announcing many ids would grow the room's presence (and every peer's) without bound.
    // Others' states that stock clients echo back are not its own and do not count.
    const announced = new Set(speaker.awarenessClients)
    for (const { client, state } of entries) {
      const owner = this.owners?.get(client)
      if (state !== 'null' && (owner === undefined || owner === speaker.userId)) announced.add(client)
    }
    if (announced.size > MAX_CLIENTS_PER_SPEAKER) {
      throw new ProtocolError(`a connection may announce at most ${MAX_CLIENTS_PER_SPEAKER} presence ids`)
    }
    const own = this.owned(update, entries, speaker.userId)
    if (own) awarenessProtocol.applyAwarenessUpdate(this.awareness, own, speaker)
  }

  /** Apply presence a user announced on another node (`origin` keeps it from going back there). */
  receiveRemote(userId: string, update: Uint8Array, origin: unknown): void {
    const own = this.owned(update, readAwarenessEntries(update), userId)
    if (own) awarenessProtocol.applyAwarenessUpdate(this.awareness, own, origin)
  }

  /** A speaker left: its states go, and everyone (other nodes included) hears of it. */
  leave(speaker: Speaker): void {
    if (!this.current || !speaker.awarenessClients?.size) return
    awarenessProtocol.removeAwarenessStates(this.current, [...speaker.awarenessClients], speaker)
  }

  destroy(): void {
    if (!this.current) return
    this.current.off('update', this.onUpdate)
    this.current.destroy()
  }

  /** `update` cut down to the entries `userId` may speak for (undefined: none). */
  private owned(update: Uint8Array, entries: AwarenessEntry[], userId: string): Uint8Array | undefined {
    const own = entries.filter(({ client, state }) => {
      // The room's own id (its sequencer's Yjs client) is nobody's to speak for.
      if (client === this.doc.clientID) return false
      const owner = this.owners?.get(client)
      if (owner === undefined && state !== 'null') {
        this.owners ??= new Map()
        this.owners.set(client, userId)
      }
      return owner === undefined || owner === userId
    })
    if (own.length === entries.length) return update
    return own.length === 0 ? undefined : writeAwarenessEntries(own)
  }

  private readonly onUpdate = (
    change: { added: number[]; updated: number[]; removed: number[] },
    origin: unknown,
  ): void => {
    const speaker = isSpeaker(origin) ? origin : undefined
    if (speaker) {
      // An id announced again after its removal comes as "updated": it is the speaker's as well,
      // and must leave with it.
      for (const client of [...change.added, ...change.updated]) {
        if (this.owners?.get(client) !== speaker.userId) continue
        speaker.awarenessClients ??= new Set()
        speaker.awarenessClients.add(client)
      }
      for (const client of change.removed) speaker.awarenessClients?.delete(client)
    }
    const changed = [...change.added, ...change.updated, ...change.removed]
    if (changed.length === 0) return
    const update = awarenessProtocol.encodeAwarenessUpdate(this.awareness, changed)
    this.hooks.broadcast(update)
    if (speaker) this.hooks.announce(speaker.userId, update)
  }
}

const isSpeaker = (origin: unknown): origin is Speaker =>
  typeof origin === 'object' &&
  origin !== null &&
  typeof (origin as Speaker).userId === 'string' &&
  'awarenessClients' in origin

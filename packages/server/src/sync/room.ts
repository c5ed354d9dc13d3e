import {
  type ActionContext,
  applyCheckedUpdate,
  type Claim,
  ConversationIndex,
  checkUpdate,
  collectSealedEntries,
  MESSAGE_KEY_PREFIX,
  type MessageRecord,
  mentionsIn,
  messageKey,
  messageRecordProblem,
  type Role,
  randomId,
  recipientsOf,
  replyReference,
  SEQUENCER_ORIGIN,
  type SealedMessage,
  SYSTEM_ROOT,
  sealThrough,
  stampUnsequenced,
  stateVectorProblem,
  TicksError,
  userRoot,
} from '@ticks/core'
import * as Y from 'yjs'
import {
  ClaimConflictError,
  FencedError,
  type HistoryRecord,
  historyRecordOf,
  MAX_HISTORY_PAGE,
  type Store,
} from '../store/store.js'
import { LOAD_ORIGIN, loadDocument } from './load-document.js'
import { Presence } from './presence.js'
import {
  ProtocolError,
  readMessage,
  writeAwareness,
  writeSyncStep1,
  writeSyncStep2,
  writeUpdate,
} from './protocol.js'
import { RateLimiter } from './rate-limiter.js'
import { Replication } from './replication.js'
import { RoomConnection } from './room-connection.js'
import {
  type CompactionPolicy,
  type Connection,
  DEFAULT_ROOM_LIMITS,
  frameLimit,
  type Peer,
  RoomError,
  type RoomEvents,
  type RoomLimits,
  type RoomLogger,
  type RoomOptions,
} from './room-options.js'
import { SealedAuthors } from './sealed-authors.js'
import { SequencerLease } from './sequencer-lease.js'
import { summarize } from './summary.js'

export * from './room-options.js'

/** Origin of what other nodes committed or announced (several nodes): shown, never stored again. */
const REMOTE_ORIGIN = Symbol('ticks-remote')
/** Origin of writes the server makes on a user's behalf (REST sends). */
const LOCAL_ORIGIN = Symbol('ticks-local')

/** Updates up to this size are merged into a commit's shared frame (see `broadcastCommitted`). */
const MERGE_LIMIT_BYTES = 2048

/** Longest a sync reply waits for a quiet moment in a busy room (see `releaseReplies`). */
const MAX_REPLY_DELAY_MS = 250
const silentLog: RoomLogger = { info() {}, warn() {}, error() {} }
const DEFAULT_COMPACTION: CompactionPolicy = { maxEntries: 500, maxBytes: 4 * 1024 * 1024 }
/**
 * Store reads per room while the relay is down (DESIGN section 10). A message written on one node
 * reaches a client on another in two polls at most (to the owner, which stamps, and back), so
 * this bounds delivery without Redis at about a second; one indexed read per open room each time.
 */
const DEFAULT_POLL_MS = 500
/** Sequenced messages a live document keeps (DESIGN section 12): a few screens, and every unread count exact. */
export const DEFAULT_HISTORY_WINDOW = 1000

/**
 * Load a conversation from the store and open a room on it. Throws RoomError('not-found') when the
 * store has no such document and RoomError('load-failed') when it cannot be read: a room that
 * failed to load never exists, so it can never write over the stored document (Hocuspocus #382).
 * A stored entry that cannot be applied does not fail the load: it is quarantined and the room
 * opens on everything else.
 */
export async function createRoom(options: RoomOptions): Promise<Room> {
  const log = options.log ?? silentLog
  let doc: Awaited<ReturnType<typeof loadDocument>>
  try {
    doc = await loadDocument(options.store, options.id, ({ entry, reason }) => {
      log.error({ room: options.id, entry, reason }, 'quarantined a stored update that cannot be loaded')
      options.events?.quarantined?.()
    })
  } catch (error) {
    throw new RoomError('load-failed', `could not load ${options.id}: ${(error as Error).message}`)
  }
  if (!doc) throw new RoomError('not-found', `no conversation ${options.id}`)
  // Seals stored after the last compaction come back as tombstones: hold what the snapshot would.
  collectSealedEntries(doc.doc)
  return new Room(doc.doc, options, doc.lastEntry)
}

/**
 * The real room logic, transport-agnostic: one Y.Doc per open conversation, the y-websocket
 * protocol, write rules before apply, immediate fan-out, and the sequencer with group commit.
 *
 * Durability: client updates are checked and applied at once; within `commitWindowMs` the
 * sequencer stamps every unsequenced message and the batch of client updates plus the stamp is
 * appended in one store transaction. Nothing leaves the room before that transaction committed —
 * neither the client updates, nor the stamp, nor a sync-step-2 reply that would show them — so
 * `sent` always means stored, and a peer never holds another user's entry that a crash could take
 * from the store (it could not hand that entry back: the write rules refuse relayed entries, which
 * look exactly like forged ones). If a commit fails the room is poisoned: its sockets close with 1011
 * and it must be reloaded from the store, which never holds a stamp nobody can see nor shows one it
 * lacks.
 */
export class Room {
  readonly id: string
  readonly doc: Y.Doc
  readonly index: ConversationIndex
  private readonly presence: Presence
  /** The index's members version when connections were last checked against it. */
  private checkedMembers = 0
  private readonly store: Store
  private readonly limits: RoomLimits
  private readonly compaction: CompactionPolicy
  private readonly historyWindow: number
  private readonly commitWindowMs: number
  private readonly manualCommits: boolean
  private readonly slowCommitMs: number
  private readonly log: RoomLogger
  private readonly events: Partial<RoomEvents>
  private readonly onPoisoned: ((room: Room) => void) | undefined
  private readonly options: RoomOptions
  private readonly connections = new Set<RoomConnection>()
  /** Message actions (issue 17): authors of sealed targets, edits per user, redacted history. */
  private readonly sealedAuthors: SealedAuthors
  private readonly editLimits = new Map<string, RateLimiter>()
  private readonly redacted = new Set<string>()

  /**
   * Client updates applied to the doc but not yet in the store, with the socket each came from and
   * the ids each takes (which the store checks cluster-wide when several nodes serve the room).
   */
  private unpersisted: { update: Uint8Array; origin: RoomConnection | null; claims?: readonly Claim[] }[] = []
  /** Stamps applied to the doc whose commit has not finished: invisible to peers until it has. */
  private heldStamps: Uint8Array[] = []
  private commitInFlight = false
  /** Replies that would reveal what the store lacks, sent once the doc holds nothing undurable. */
  private afterCommit: { since: number; run: () => void }[] = []
  /** Frames taken while the room drains to a durable moment for a starving reply (else null). */
  private heldFrames: { connection: RoomConnection; frame: Uint8Array }[] | null = null
  private commitTimer: { cancel: () => void } | null = null
  private commitChain: Promise<void> = Promise.resolve()
  private state: 'open' | 'closing' | 'closed' | 'poisoned' = 'open'
  private readonly lease: SequencerLease | undefined
  private readonly replication: Replication | undefined
  /** Whether this room may stamp: always on a single node; with a cluster, the lease holder, once caught up. */
  private stamping: boolean
  /** While a client update is applied: what the doc emitted for it (see `applyClientUpdate`). */
  private applying: Uint8Array[] | null = null
  private markStopped!: () => void
  /** Resolves once the room is gone for good: closed, or poisoned with no commit left in flight. */
  readonly stopped: Promise<void> = new Promise((resolve) => {
    this.markStopped = resolve
  })

  constructor(doc: Y.Doc, options: RoomOptions, loadedThrough = 0) {
    this.id = options.id
    this.doc = doc
    this.store = options.store
    // Field by field, not by spread: V8 gave every room's spread copy a hidden class of its own
    // (0.8 KiB per room in the idle bench's heap diff).
    const limits = options.limits
    this.limits = {
      maxFrameBytes: limits?.maxFrameBytes ?? DEFAULT_ROOM_LIMITS.maxFrameBytes,
      maxSyncFrameBytes: limits?.maxSyncFrameBytes ?? DEFAULT_ROOM_LIMITS.maxSyncFrameBytes,
      messagesPerSecond: limits?.messagesPerSecond ?? DEFAULT_ROOM_LIMITS.messagesPerSecond,
      burst: limits?.burst ?? DEFAULT_ROOM_LIMITS.burst,
      model: limits?.model ?? DEFAULT_ROOM_LIMITS.model,
    }
    this.compaction = options.compaction ?? DEFAULT_COMPACTION
    this.historyWindow = options.historyWindow ?? DEFAULT_HISTORY_WINDOW
    // 0: commit on the next turn. Group commit still happens: updates that arrive while a commit is
    // on disk wait for it and share the next one (and the store merges rooms' commits likewise).
    this.commitWindowMs = options.commitWindowMs ?? 0
    this.manualCommits = options.manualCommits ?? false
    this.slowCommitMs = options.slowCommitMs ?? 100
    this.log = options.log ?? silentLog
    this.events = options.events ?? {}
    this.onPoisoned = options.onPoisoned
    this.options = options
    this.index = new ConversationIndex(doc, { keepHistory: false })
    this.sealedAuthors = new SealedAuthors(this.store, this.id, this.index)
    this.presence = new Presence(doc, {
      broadcast: (update) => this.broadcast(writeAwareness(update), null),
      announce: (userId, update) => this.replication?.announce(userId, update),
    })
    doc.on('update', this.onDocUpdate)
    this.index.onChange(() => this.dropFormerMembers())
    this.stamping = options.cluster === undefined
    const cluster = options.cluster
    if (cluster) {
      this.replication = new Replication({
        store: this.store,
        relay: cluster.relay,
        docId: this.id,
        nodeId: cluster.nodeId,
        loadedThrough,
        pollMs: cluster.pollMs ?? DEFAULT_POLL_MS,
        log: this.log,
        applyCommitted: (updates) => this.applyCommitted(updates),
        applyAwareness: (userId, update) => this.applyRemoteAwareness(userId, update),
        events: this.events,
      })
      this.lease = new SequencerLease({
        store: this.store,
        docId: this.id,
        nodeId: cluster.nodeId,
        leaseMs: cluster.leaseMs ?? 5000,
        renewMs: cluster.renewMs ?? 1000,
        log: this.log,
        onGained: () => {
          this.events.leaseGained?.()
          this.onLeaseGained()
        },
        onLost: () => {
          this.events.leaseLost?.()
          this.stamping = false
        },
      })
      this.lease.start()
      return
    }
    // Messages stored without a stamp (a store written by something else), or a history longer
    // than the window (stored before sealing existed): stamp and seal them now.
    if (this.hasSequencerWork()) this.scheduleCommit()
  }

  /** Whether this node stamps the conversation now (a single node always does). */
  get isSequencer(): boolean {
    return this.stamping
  }

  /** The room's presence states (y-protocols awareness). */
  get awareness(): Presence['awareness'] {
    return this.presence.awareness
  }

  get connectionCount(): number {
    return this.connections.size
  }

  get isOpen(): boolean {
    return this.state === 'open'
  }

  connect(peer: Peer): Connection {
    if (this.state !== 'open') {
      peer.close(this.state === 'poisoned' ? 1011 : 1012, 'room is closing')
      return { receive() {}, disconnect() {} }
    }
    // The connection is the transport's handle too: no closures per socket (idle heap).
    const connection = new RoomConnection(peer, this.limits, this.events, this)
    const link: Connection = connection
    if (this.roleOf(peer) !== undefined) {
      this.admit(connection)
      return link
    }
    if (!this.replication) {
      this.refuseConnection(connection)
      return link
    }
    // Several nodes: the member may have been added on another node a relay hop ago. Its frames
    // wait (it sees nothing) until this copy caught up with the store and says who is a member.
    connection.waiting = []
    void this.replication
      .catchUp()
      .catch(() => false)
      .then(() => {
        if (this.state !== 'open' || connection.closed) return
        if (this.roleOf(peer) === undefined) {
          this.refuseConnection(connection)
          return
        }
        this.admit(connection)
        this.runWaiting(connection, false)
      })
    return link
  }

  private admit(connection: RoomConnection): void {
    this.connections.add(connection)
    connection.send(writeSyncStep1(Y.encodeStateVector(this.doc)))
    const presence = this.presence.snapshot()
    if (presence) connection.send(writeAwareness(presence))
  }

  private refuseConnection(connection: RoomConnection): void {
    const { userId } = connection.peer
    this.events.refused?.(4403, 'not-a-member')
    this.logOf(connection).info({ room: this.id, userId }, 'refused connection: not a member')
    connection.close(4403, `${userId} is not a member of this conversation`)
  }

  /**
   * Send a message as `userId` from the server (REST, bots): the same pipeline as a socket's
   * update — membership and shape are checked, it is broadcast, stamped and stored. Resolves once
   * it is durable, with its seq.
   */
  async sendAs(userId: string, text: string): Promise<{ id: string; seq: number; createdAt: number }> {
    const [sent] = await this.sendManyAs(userId, [text])
    return sent!
  }

  /**
   * Server-side send of several messages at once (a bot's batch): checked all before any is
   * written, then written in one Yjs transaction, so they are one update, stored in one append
   * and stamped together, in order, with consecutive createdAt. All or none.
   */
  async sendManyAs(
    userId: string,
    texts: readonly string[],
    options: { replyTo?: string } = {},
  ): Promise<{ id: string; seq: number; createdAt: number }[]> {
    if (this.state !== 'open') throw new RoomError('closed', 'room is closing')
    const role = this.index.members.get(userId)?.role
    if (role === undefined) throw new TicksError('not-a-member', `${userId} is not a member`)
    if (role === 'observer') throw new TicksError('read-only', `${userId} is an observer`)
    const sealed = options.replyTo === undefined ? undefined : await this.sealedTarget(options.replyTo)
    const replyTo =
      options.replyTo === undefined ? undefined : replyReference(this.index, options.replyTo, sealed)
    return this.writeAndStamp(userRoot(userId), recipientsOf(this.index.members, userId), texts, (record) => {
      if (replyTo) record.replyTo = replyTo
      const mentions = mentionsIn(record.text, this.index.members, this.limits.model.maxMentions)
      if (mentions.length > 0) record.mentions = mentions
    })
  }

  /**
   * An announcement (issue 16): a message in the server-only `system` root, to every writing
   * member, sequenced and receipted like any message. Who may post it is the caller's to check.
   */
  async announce(text: string): Promise<{ id: string; seq: number; createdAt: number }> {
    if (this.state !== 'open') throw new RoomError('closed', 'room is closing')
    const [sent] = await this.writeAndStamp(SYSTEM_ROOT, recipientsOf(this.index.members), [text])
    return sent!
  }

  /** Write records into `root` in one transaction, commit, and wait for their stamps. All or none. */
  private async writeAndStamp(
    root: string,
    to: string[],
    texts: readonly string[],
    complete?: (record: MessageRecord) => void,
  ): Promise<{ id: string; seq: number; createdAt: number }[]> {
    const now = Date.now()
    const records: MessageRecord[] = texts.map((text, i) => ({
      id: randomId(),
      text,
      createdAt: now + i,
      to,
    }))
    if (complete) for (const record of records) complete(record)
    for (const [i, record] of records.entries()) {
      const problem = messageRecordProblem(record, record.id, this.limits.model)
      if (problem) {
        const where = records.length > 1 ? `message ${i + 1}: ` : ''
        throw new TicksError(
          problem.includes('exceeds') ? 'text-too-long' : 'invalid-argument',
          where + problem,
        )
      }
    }
    this.doc.transact(() => {
      const map = this.doc.getMap(root)
      for (const record of records) map.set(messageKey(record.id), record)
    }, LOCAL_ORIGIN)
    await this.flush()
    // Another node may hold the sequencer lease: its stamps arrive through the relay.
    if (this.lease && !this.isPoisoned()) for (const record of records) await this.stampOf(record.id)
    return records.map((record) => {
      // A failed commit poisons the room without failing the flush: the stamp is in the doc but
      // not in the store, so it must not be reported as sent.
      const seq = this.isPoisoned() ? undefined : this.index.seqOf(record.id)
      if (seq === undefined) throw new RoomError('closed', 'the message could not be stored')
      return { id: record.id, seq, createdAt: record.createdAt }
    })
  }

  /**
   * Resolves when no stamp is held back, i.e. the doc shows nothing the store lacks (REST reads).
   * Rejects with RoomError('closed') when a failed commit poisoned the room meanwhile: its doc then
   * shows stamps the store never got.
   */
  async whenDurable(): Promise<void> {
    if (!this.isDurable() && !this.isPoisoned()) {
      await new Promise<void>((resolve) => this.afterCommit.push({ since: Date.now(), run: resolve }))
    }
    if (this.isPoisoned()) throw new RoomError('closed', 'the conversation could not be stored')
  }

  /** Commit everything applied so far (and stamp it). */
  flush(): Promise<void> {
    if (this.commitTimer) {
      this.commitTimer.cancel()
      this.commitTimer = null
    }
    this.commitChain = this.commitChain.then(() => this.commit())
    return this.commitChain
  }

  /** Flush, then close every connection with `code`, hand the lease back and free the doc. */
  async close(code = 1012, reason = 'server restarting'): Promise<void> {
    if (this.state !== 'open') return
    this.state = 'closing'
    await this.flush()
    for (const connection of [...this.connections]) connection.close(code, reason)
    await Promise.all([this.lease?.stop(), this.replication?.stop()])
    this.destroy()
  }

  /** Resolves once `id` has a seq (stamped here or by the node holding the lease). */
  private stampOf(id: string): Promise<void> {
    const deadline = (this.options.cluster?.leaseMs ?? 5000) * 2 + 2000
    return new Promise((resolve, reject) => {
      const done = () => {
        if (this.index.seqOf(id) === undefined && !this.isGone()) return false
        clearTimeout(timer)
        stop()
        resolve()
        return true
      }
      const stop = this.index.onChange(() => void done())
      const timer = setTimeout(() => {
        stop()
        reject(new RoomError('busy', 'no node stamped the message in time'))
      }, deadline)
      done()
    })
  }

  /** Updates another node committed: durable already, so shown at once, never stored again. */
  private applyCommitted(updates: readonly Uint8Array[]): void {
    if (this.state !== 'open' || updates.length === 0) return
    const emitted: Uint8Array[] = []
    this.applying = emitted
    const sealedBefore = this.index.sealedThrough
    try {
      this.doc.transact(() => {
        for (const update of updates) applyCheckedUpdate(this.doc, update, REMOTE_ORIGIN)
      }, REMOTE_ORIGIN)
    } catch (error) {
      this.reloadAfterDefect(error)
      return
    } finally {
      this.applying = null
    }
    // The owner sealed: drop the sealed entries' tombstones here too (see `commit`).
    if (this.index.sealedThrough > sealedBefore) collectSealedEntries(this.doc)
    // Commits are applied in entry order, so nothing should wait; if something does, the store
    // has what it waits for.
    if (this.doc.store.pendingStructs) void this.replication?.catchUp()
    if (emitted.length > 0) {
      const frame = writeUpdate(emitted.length === 1 ? emitted[0]! : Y.mergeUpdates(emitted))
      for (const connection of this.connections) if (connection.repliesPending === 0) connection.send(frame)
    }
    if (this.stamping && this.index.unsequenced().length > 0) this.scheduleCommit()
  }

  /** Presence a user announced on another node, checked as if it came from a socket of theirs. */
  private applyRemoteAwareness(userId: string, update: Uint8Array): void {
    if (this.state !== 'open') return
    try {
      this.presence.receiveRemote(userId, update, REMOTE_ORIGIN)
    } catch (error) {
      this.log.warn({ room: this.id, err: error }, 'relay: dropped a presence update that does not decode')
    }
  }

  /**
   * Stamp only once everything the previous holder stored is in the doc: stamping from a doc that
   * lacks its last stamps would give those messages a second seq. A store that cannot be read
   * now is asked again a poll later.
   */
  private onLeaseGained(): void {
    void this.replication!.catchUp().then((caughtUp) => {
      if (!this.lease?.isHeld || this.state !== 'open') return
      if (!caughtUp) {
        setTimeout(() => this.onLeaseGained(), this.options.cluster?.pollMs ?? DEFAULT_POLL_MS).unref?.()
        return
      }
      this.stamping = true
      if (this.hasSequencerWork()) this.scheduleCommit()
    })
  }

  private destroy(): void {
    if (this.state === 'closed') return
    if (this.state !== 'poisoned') this.state = 'closed'
    this.commitTimer?.cancel()
    void this.lease?.stop()
    void this.replication?.stop()
    this.connections.clear()
    for (const reply of this.afterCommit) reply.run()
    this.afterCommit = []
    this.presence.destroy()
    this.doc.off('update', this.onDocUpdate)
    this.index.destroy()
    this.doc.destroy()
    this.markStopped()
  }

  /** A member an owner removed stops receiving the conversation at once. */
  private dropFormerMembers(): void {
    if (this.index.membersVersion === this.checkedMembers) return
    this.checkedMembers = this.index.membersVersion
    for (const connection of [...this.connections]) {
      if (this.roleOf(connection.peer) !== undefined) continue
      this.refuse(connection, 4403, 'not-a-member', `${connection.peer.userId} is no longer a member`)
    }
  }

  private isPoisoned(): boolean {
    return this.state === 'poisoned'
  }

  /** Read through a method: the state changes across awaits, which TypeScript's narrowing ignores. */
  private isGone(): boolean {
    return this.state === 'closed' || this.state === 'poisoned'
  }

  private roleOf(peer: Peer): Role | undefined {
    return peer.role ?? this.index.members.get(peer.userId)?.role
  }

  /** @internal A frame from a connection (`RoomConnection.receive`). */
  receive(connection: RoomConnection, frame: Uint8Array): void {
    if (this.state !== 'open' || connection.closed) return
    const limit = frameLimit(this.limits, frame)
    if (frame.byteLength > limit) {
      this.refuse(connection, 4413, 'too-large', `frame exceeds ${limit} bytes`)
      return
    }
    if (!connection.takeToken()) {
      this.refuse(connection, 4429, 'rate-limited', 'rate limit exceeded')
      return
    }
    if (connection.waiting) {
      connection.waiting.push(frame)
      return
    }
    if (this.heldFrames) {
      this.heldFrames.push({ connection, frame })
      return
    }
    this.handle(connection, frame)
  }

  private handle(connection: RoomConnection, frame: Uint8Array): void {
    let message: ReturnType<typeof readMessage>
    try {
      message = readMessage(frame)
    } catch (error) {
      const reason = error instanceof ProtocolError ? error.message : 'malformed frame'
      this.refuse(connection, 4400, 'malformed', reason)
      return
    }
    switch (message.type) {
      case 'sync-step-1':
        this.answerSyncStep1(connection, message.stateVector)
        return
      case 'sync-step-2':
      case 'update':
        this.applyClientUpdate(connection, frame, message.update, message.type === 'update')
        return
      case 'awareness':
        try {
          this.presence.receive(message.update, connection)
        } catch (error) {
          const reason = error instanceof ProtocolError ? error.message : 'malformed awareness update'
          this.refuse(connection, 4400, 'malformed', reason)
        }
        return
      case 'query-awareness': {
        const presence = this.presence.snapshot()
        if (presence) connection.send(writeAwareness(presence))
        return
      }
    }
  }

  private answerSyncStep1(connection: RoomConnection, stateVector: Uint8Array): void {
    // Checked now, so a malformed state vector is refused on the spot, not after a commit.
    const problem = stateVectorProblem(stateVector)
    if (problem) {
      this.refuse(connection, 4400, 'malformed', `malformed state vector: ${problem}`)
      return
    }
    const reply = () => {
      if (connection.closed || this.state === 'closed') return
      connection.send(writeSyncStep2(Y.encodeStateAsUpdate(this.doc, stateVector)))
      // Ask back, so a client's periodic resync also repairs what the room missed (a lost frame
      // the client will not resend on its own), not only what the client missed.
      connection.send(writeSyncStep1(Y.encodeStateVector(this.doc)))
    }
    // The doc may hold updates or a stamp the store lacks: answering now would reveal them early.
    if (this.isDurable()) {
      reply()
      return
    }
    // Until the reply goes out, commits skip this connection: the reply, encoded from the doc at
    // that moment, carries them anyway (in a reconnect storm they would otherwise arrive twice).
    connection.repliesPending++
    this.afterCommit.push({
      since: Date.now(),
      run: () => {
        connection.repliesPending--
        reply()
      },
    })
  }

  /** `live`: an update message (not a sync step 2, which already carries all the sender has). */
  private applyClientUpdate(
    connection: RoomConnection,
    frame: Uint8Array,
    update: Uint8Array,
    live: boolean,
  ): void {
    const userId = connection.peer.userId
    const unknownSealed: string[] = []
    const verdict = checkUpdate(this.doc, update, {
      userId,
      role: this.roleOf(connection.peer),
      limits: this.limits.model,
      clientClaimedByOther: (client) => this.presence.claimedByOther(client, userId),
      sealedAuthorOf: this.sealedAuthors.answering(unknownSealed),
    })
    if (!verdict.ok) {
      if (verdict.code === 'unknown-message' && unknownSealed.length > 0 && !connection.rejudging) {
        this.lookUpSealedAuthors(connection, frame, unknownSealed)
        return
      }
      if (this.replication && !connection.rejudging) {
        this.rejudgeAfterCatchUp(connection, frame)
        return
      }
      this.refuse(connection, verdict.closeCode, verdict.code, verdict.reason)
      return
    }
    this.events.updateIn?.(update.byteLength)
    if (verdict.incomplete) {
      // It follows structs this room never got (a frame lost before a reconnect). Ask the client
      // for everything the room lacks: its sync step 2 brings the gap and this update together.
      // A sync step 2 already brought all it has: asking again would only repeat it, forever.
      if (live) connection.send(writeSyncStep1(Y.encodeStateVector(this.doc)))
      return
    }
    if (verdict.newStructs === 0 && verdict.deletions === 0) return // a re-send after reconnect
    // A new message may not take the id of a sealed one: the document no longer holds its entry,
    // so the write rules cannot see it (DESIGN section 12); the sealed authors can.
    const unknownIds: string[] = []
    const reused = this.sealedIdTaken(verdict.claims, unknownIds)
    if (unknownIds.length > 0) {
      this.lookUpSealedAuthors(connection, frame, unknownIds, connection.rejudging)
      return
    }
    if (reused) {
      this.refuse(connection, 4400, 'immutable', `message ${reused} already exists in the history`)
      return
    }
    if (verdict.edits > 0 && !this.takeEdits(userId, verdict.edits)) {
      this.refuse(
        connection,
        4429,
        'rate-limited',
        `at most ${this.limits.model.maxEditsPerMinute} edits per minute`,
      )
      return
    }
    // What the doc emits is held here, not queued for the store, until the apply is known good.
    const emitted: Uint8Array[] = []
    this.applying = emitted
    // Structs may already wait after a relay gap (several nodes); this update must add none.
    const pendingBefore = this.doc.store.pendingStructs
    let failure: unknown
    try {
      applyCheckedUpdate(this.doc, update, connection)
    } catch (error) {
      failure = error
    } finally {
      this.applying = null
    }
    // Yjs has no rollback: a throw may have integrated half the update, and structs left pending
    // would be stored and relayed although nobody checked what they will integrate into.
    const pendingAfter = this.doc.store.pendingStructs
    if (failure !== undefined || (pendingAfter !== null && pendingAfter !== pendingBefore)) {
      this.refuse(connection, 4400, 'malformed', 'update could not be applied')
      this.reloadAfterDefect(failure ?? new Error('a checked update left structs pending'))
      return
    }
    if (emitted.length === 0) return
    // An update that applies whole is stored and relayed as it came, sparing Yjs re-encoding it.
    // One naming deletions the room cannot check is stored as Yjs re-encoded it, without them.
    const stored = verdict.unknownDeletions === 0 ? update : Y.mergeUpdates(emitted)
    this.unpersisted.push({ update: stored, origin: connection, claims: verdict.claims })
    this.scheduleCommit()
  }

  /**
   * Several nodes: this copy may lag the store by a relay hop, so a refusal may only mean that it
   * has not seen yet what the writer saw on another node (the entries a client moving over from
   * another node hands back, the stamp its receipt counts, a member just added). Only what is
   * still refused once caught up with the store is refused; the connection's frames wait meanwhile
   * and then go on in order. Refusals are rare, so the extra store read is too.
   */
  private rejudgeAfterCatchUp(connection: RoomConnection, frame: Uint8Array): void {
    connection.waiting = [frame]
    void this.replication!.catchUp()
      .catch(() => false)
      .then(() => this.runWaiting(connection, true))
  }

  /**
   * The first message id an update takes that a sealed message holds (several nodes also keep
   * claims, but not for messages sealed before them); ids nobody looked up yet go to `unknown`.
   */
  private sealedIdTaken(claims: readonly Claim[], unknown: string[]): string | undefined {
    const authorOf = this.sealedAuthors.answering(unknown)
    let taken: string | undefined
    for (const { key } of claims) {
      if (!key.startsWith(MESSAGE_KEY_PREFIX)) continue
      const id = key.slice(MESSAGE_KEY_PREFIX.length)
      if (authorOf(id)) taken ??= id
    }
    return taken
  }

  /**
   * An update names sealed messages this room does not know the authors of (an action's target,
   * or a new message's id): ask the store, then judge the update again (its frames, and the
   * connection's next ones, wait meanwhile). `rejudged`: the frame is then judged for good.
   */
  private lookUpSealedAuthors(
    connection: RoomConnection,
    frame: Uint8Array,
    ids: string[],
    rejudged = true,
  ): void {
    connection.waiting = [frame]
    void this.sealedAuthors.lookUp(ids).then(
      () => {
        if (this.state === 'open' && !connection.closed) this.runWaiting(connection, rejudged)
      },
      (error: unknown) => {
        if (this.state !== 'open' || connection.closed) return
        this.logOf(connection).warn(
          { room: this.id, err: error },
          'could not read the history to check an action',
        )
        connection.waiting = null
        connection.close(1011, 'the store is unavailable')
      },
    )
  }

  /** Whether `userId` may make `count` more edits now (`maxEditsPerMinute`, per room). */
  private takeEdits(userId: string, count: number): boolean {
    const perMinute = this.limits.model.maxEditsPerMinute
    const limiter = this.editLimits.get(userId) ?? new RateLimiter(perMinute / 60, perMinute)
    this.editLimits.set(userId, limiter)
    for (let i = 0; i < count; i++) if (!limiter.take()) return false
    return true
  }

  /**
   * Act as `userId` from the server (REST): a message action of core (`react`, `edit`, …), checked
   * by core against this room's document as the write rules would, written, then committed.
   * A sealed target is looked up in the store first. Resolves once durable, with the action's result.
   */
  async actAs<T>(
    userId: string,
    messageId: string,
    act: (context: ActionContext) => T,
    options: { edits?: number } = {},
  ): Promise<T> {
    if (this.state !== 'open') throw new RoomError('closed', 'room is closing')
    const role = this.index.members.get(userId)?.role
    if (role === undefined) throw new TicksError('not-a-member', `${userId} is not a member`)
    if (role === 'observer') throw new TicksError('read-only', `${userId} is an observer`)
    const sealed = await this.sealedTarget(messageId)
    if (options.edits && !this.takeEdits(userId, options.edits)) {
      throw new TicksError('rate-limited', `At most ${this.limits.model.maxEditsPerMinute} edits per minute`)
    }
    const result = act({
      index: this.index,
      userId,
      limits: this.limits.model,
      now: Date.now,
      origin: LOCAL_ORIGIN,
      ...(sealed && { sealed }),
    })
    await this.flush()
    if (this.isPoisoned()) throw new RoomError('closed', 'the action could not be stored')
    return result
  }

  /** A sealed message the room's index does not hold (it keeps no history), from the store. */
  private async sealedTarget(messageId: string): Promise<SealedMessage | undefined> {
    if (this.index.sealedThrough === 0 || this.index.find(messageId)) return undefined
    const [sealed] = await this.store.sealedMessages(this.id, [messageId])
    if (!sealed) return undefined
    const { author, seq, deleted, signature: _, ...record } = sealed
    // Its deletion marker (in the live document) may be newer than the stored record.
    const isDeleted = deleted === true || this.index.isDeleted(author, messageId)
    return isDeleted ? { record, author, seq, deleted: true } : { record, author, seq }
  }

  /** Handle the frames a connection held back, in order; `rejudged`: the first is judged for good. */
  private runWaiting(connection: RoomConnection, rejudged: boolean): void {
    const frames = connection.waiting ?? []
    connection.waiting = null
    for (const [index, frame] of frames.entries()) {
      if (this.state !== 'open' || connection.closed) break
      // A frame that must wait again (judged again, or checked against the history) holds the rest.
      // (TypeScript keeps `waiting` narrowed to null across the calls below; it is not.)
      const heldAgain = connection.waiting as Uint8Array[] | null
      if (heldAgain) {
        heldAgain.push(...frames.slice(index))
        break
      }
      // The frames behind the first may still wait once each, should they be refused too.
      connection.rejudging = rejudged && index === 0
      if (this.heldFrames) this.heldFrames.push({ connection, frame })
      else this.handle(connection, frame)
    }
    connection.rejudging = false
  }

  /**
   * A checked update broke the document anyway: a defect in the write rules, logged as one. The
   * doc may be half-applied, so nothing more of it is stored or shown.
   */
  private reloadAfterDefect(error: unknown): void {
    if (this.state !== 'open') return
    this.events.defect?.()
    this.reload('defect: a checked update failed to apply; reloading the conversation from the store', error)
  }

  /**
   * Drop this doc, which holds something the store does not: every socket closes with 1012
   * (clients reconnect and resend what they wrote), the commit already on its way finishes, and
   * the host reloads the conversation from the store.
   */
  private reload(message: string, error: unknown): void {
    if (this.state !== 'open') return
    this.log.error({ room: this.id, err: error }, message)
    this.state = 'poisoned'
    this.unpersisted = []
    this.heldStamps = []
    this.commitTimer?.cancel()
    this.commitTimer = null
    for (const connection of [...this.connections]) connection.close(1012, 'conversation reloading')
    void this.commitChain.then(() => {
      this.destroy()
      this.onPoisoned?.(this)
    })
  }

  private refuse(connection: RoomConnection, closeCode: number, code: string, reason: string): void {
    this.events.refused?.(closeCode, code)
    this.logOf(connection).info(
      { room: this.id, userId: connection.peer.userId, closeCode, code, reason },
      'closed a connection: refused input',
    )
    connection.close(closeCode, reason)
  }

  /** Where lines about one peer go: its transport's logger, which carries the socket's request id. */
  private logOf(connection: RoomConnection): RoomLogger {
    return connection.peer.log ?? this.log
  }

  /** @internal A connection leaves (`RoomConnection.disconnect`). */
  disconnect(connection: RoomConnection): void {
    connection.closed = true
    if (!this.connections.delete(connection)) return
    if (this.state === 'open') this.presence.leave(connection)
  }

  private readonly onDocUpdate = (update: Uint8Array, origin: unknown): void => {
    if (origin === LOAD_ORIGIN) return
    if (origin === SEQUENCER_ORIGIN) {
      this.heldStamps.push(update)
      return
    }
    if (this.applying) {
      this.applying.push(update)
      return
    }
    this.unpersisted.push({ update, origin: origin instanceof RoomConnection ? origin : null })
    this.scheduleCommit()
  }

  private broadcast(frame: Uint8Array, except: RoomConnection | null): void {
    for (const connection of this.connections) if (connection !== except) connection.send(frame)
  }

  private scheduleCommit(): void {
    if (this.manualCommits || this.commitTimer || this.state === 'poisoned' || this.state === 'closed') return
    const run = () => {
      this.commitTimer = null
      this.commitChain = this.commitChain.then(() => this.commit())
    }
    // No window: commit once this turn's frames are in. `setTimeout(0)` waits at least 1 ms in
    // Node, a third of a quiet room's delivery time (issue 14).
    if (this.commitWindowMs <= 0) {
      const immediate = setImmediate(run)
      this.commitTimer = { cancel: () => clearImmediate(immediate) }
    } else {
      const timer = setTimeout(run, this.commitWindowMs)
      this.commitTimer = { cancel: () => clearTimeout(timer) }
    }
  }

  /** One group commit; runs serialised on `commitChain`, so at most one stamp is ever in flight. */
  private async commit(): Promise<void> {
    if (this.state === 'poisoned' || this.state === 'closed') return
    const stamping = this.stamping
    if (this.unpersisted.length === 0 && !(stamping && this.hasSequencerWork())) return
    const batch = this.unpersisted
    this.unpersisted = []
    this.commitInFlight = true
    let sealed: HistoryRecord[] = []
    if (stamping) {
      stampUnsequenced(this.index)
      sealed = this.seal()
    }
    const stamps = this.heldStamps
    this.heldStamps = []
    const started = performance.now()
    const updates = [...batch.map((entry) => entry.update), ...stamps]
    let size: Awaited<ReturnType<Store['append']>>
    try {
      // With several nodes, a stamp is stored only while this node still holds the lease.
      const fence = stamps.length > 0 ? this.lease?.fence : undefined
      if (this.lease && stamps.length > 0 && !fence) throw new FencedError('the sequencer lease was lost')
      // With several nodes, each judged its sockets' ids against its own copy: the store decides.
      const claims = this.replication ? batch.flatMap((entry) => entry.claims ?? []) : undefined
      size = await this.store.append(this.id, updates, summarize(this.index, Date.now()), {
        fence,
        claims,
        sealed,
      })
    } catch (error) {
      if (error instanceof FencedError) {
        // Another node took the conversation over while these stamps were on their way: they
        // are in this doc but not in the store, so the doc must go. Not a store failure.
        this.lease?.lost()
        this.reload('stamps refused: another node holds the sequencer lease', error)
        return
      }
      if (error instanceof ClaimConflictError) {
        // Another node stored the same id for another writer first: this doc holds the loser's
        // write, which Yjs cannot take back. Reloaded, the room has the winner's, and the loser's
        // re-send (its client reconnects) meets the write rules' refusal like any late duplicate.
        this.events.claimConflict?.()
        this.reload('an id was taken on another node first; reloading the conversation', error)
        return
      }
      this.events.persistFailed?.(error)
      this.poison(error)
      return
    } finally {
      this.commitInFlight = false
    }
    this.replication?.committed(size.lastEntry - updates.length + 1, size.lastEntry, updates)
    const seconds = (performance.now() - started) / 1000
    this.events.persisted?.(seconds, batch.length + stamps.length)
    if (seconds * 1000 > this.slowCommitMs) {
      this.log.warn(
        { room: this.id, ms: Math.round(seconds * 1000), updates: batch.length },
        'slow store commit',
      )
    }
    if (this.isGone()) return
    // Before the held replies are encoded: they then carry no tombstone of what was just sealed.
    if (sealed.length > 0) collectSealedEntries(this.doc)
    this.broadcastCommitted(batch, stamps)
    this.releaseReplies()
    // One compactor per conversation (the sequencer), folding only what this doc holds all of.
    const compactable = this.replication ? this.replication.appliedThrough : size.lastEntry
    if (stamping && (size.entries > this.compaction.maxEntries || size.bytes > this.compaction.maxBytes)) {
      await this.compact(compactable)
    }
  }

  /**
   * After a commit: the window's small updates and its stamps merged into one frame shared by
   * every peer, so a message and its `sent` arrive together and a busy room costs each client one
   * decode per commit instead of one per update plus one per stamp. A writer's own small updates
   * come back in it (applying known structs is a no-op, and cheaper for both sides than a frame
   * merged for it alone). Large updates (a reconnecting client's outbox) go as they came, before
   * the shared frame, to everyone but their writer: merging re-encodes every byte, which only pays
   * off when frames are many and small.
   */
  private broadcastCommitted(
    batch: readonly { update: Uint8Array; origin: RoomConnection | null }[],
    stamps: readonly Uint8Array[],
  ): void {
    const large = batch.filter((entry) => entry.update.byteLength > MERGE_LIMIT_BYTES)
    const small = batch.filter((entry) => entry.update.byteLength <= MERGE_LIMIT_BYTES).map((e) => e.update)
    small.push(...stamps)
    const shared =
      small.length === 0 ? undefined : writeUpdate(small.length === 1 ? small[0]! : Y.mergeUpdates(small))
    const largeFrames = large.map(({ update, origin }) => ({ frame: writeUpdate(update), origin }))
    for (const connection of this.connections) {
      if (connection.repliesPending > 0) continue
      for (const { frame, origin } of largeFrames) if (origin !== connection) connection.send(frame)
      if (shared) connection.send(shared)
    }
  }

  /** True when the doc shows nothing the store lacks. */
  private isDurable(): boolean {
    return !this.commitInFlight && this.unpersisted.length === 0 && this.heldStamps.length === 0
  }

  /**
   * Send the replies held back for durability, once the room shows nothing the store lacks. A room
   * that never goes quiet (updates keep arriving during each commit) would starve a joiner, so once
   * a reply has waited `MAX_REPLY_DELAY_MS` the room stops taking frames: the commit under way
   * stores what it holds, the replies go out showing only stored state, and the held frames are
   * handled in the order they came. Their senders wait a commit longer; nobody is shown an update a
   * crash could still take away.
   */
  private releaseReplies(): void {
    if (this.afterCommit.length === 0) {
      this.resumeFrames()
      return
    }
    if (this.isDurable()) {
      const waiting = this.afterCommit
      this.afterCommit = []
      for (const reply of waiting) reply.run()
      this.resumeFrames()
      return
    }
    const now = Date.now()
    if (this.afterCommit.some((reply) => now - reply.since >= MAX_REPLY_DELAY_MS)) this.heldFrames ??= []
  }

  private resumeFrames(): void {
    const held = this.heldFrames
    if (!held) return
    this.heldFrames = null
    for (const { connection, frame } of held) {
      if (this.state !== 'open') return
      if (!connection.closed) this.handle(connection, frame)
    }
  }

  /** Messages to stamp, or a window to seal: what a commit has to do even with no client update. */
  private hasSequencerWork(): boolean {
    return this.index.unsequencedIds.size > 0 || this.sealDue()
  }

  /**
   * Whether the live window overflows enough to seal: in batches of a tenth of the window, so a
   * busy conversation seals once per many messages rather than once per message.
   */
  private sealDue(): boolean {
    if (this.historyWindow <= 0) return false
    const live = this.index.lastSeq() - this.index.sealedThrough
    return live >= this.historyWindow + Math.max(1, Math.floor(this.historyWindow / 10))
  }

  /**
   * Seal what overflows the window (DESIGN section 12). The seal's update is a sequencer update
   * (held with the stamps), and its records go to the store in the same append, so the store
   * never holds a message in both the live document and the history, nor in neither.
   */
  private seal(): HistoryRecord[] {
    if (!this.sealDue()) return []
    return sealThrough(this.index, this.index.lastSeq() - this.historyWindow).map(historyRecordOf)
  }

  private async compact(throughEntry: number): Promise<void> {
    // Taken right after a commit, with no stamp in flight: the snapshot holds every stored entry
    // (and perhaps client updates still queued, which are harmless to store twice). Deleted
    // message entries go in as garbage-collected ranges: the stored document stays O(window).
    // Collected in place (seals already were): one encode, and the room holds what it stores.
    collectSealedEntries(this.doc)
    const snapshot = Y.encodeStateAsUpdate(this.doc)
    try {
      await this.store.compact(this.id, snapshot, throughEntry)
      await this.redactDeletedHistory()
    } catch (error) {
      // The log is still complete; compaction is retried after a later commit.
      this.log.warn({ room: this.id, err: error }, 'compaction failed')
    }
  }

  /**
   * Messages deleted for everyone after they were sealed: their text leaves the stored history at
   * compaction too (issue 17), as it left the document. Markers stay in the document (bounded by
   * actions, not history), so each is redacted once per room lifetime; redacting is idempotent.
   */
  private async redactDeletedHistory(): Promise<void> {
    const ids: string[] = []
    for (const { messageId } of this.index.actions.deletions()) {
      // A message still in the live window is sealed later, already as a tombstone.
      const liveSeq = this.index.messages.get(messageId)?.seq
      if (this.redacted.has(messageId) || (liveSeq !== undefined && liveSeq > this.index.sealedThrough))
        continue
      ids.push(messageId)
    }
    for (let from = 0; from < ids.length; from += MAX_HISTORY_PAGE) {
      const batch = ids.slice(from, from + MAX_HISTORY_PAGE)
      await this.store.redactHistory(this.id, batch)
      for (const id of batch) this.redacted.add(id)
    }
  }

  private poison(error: unknown): void {
    if (this.state === 'poisoned') return
    this.state = 'poisoned'
    this.log.error({ room: this.id, err: error }, 'store commit failed: dropping the room')
    for (const connection of [...this.connections]) connection.close(1011, 'storage failure, reconnect')
    this.destroy()
    this.onPoisoned?.(this)
  }
}

import * as decoding from 'lib0/decoding'
import * as Y from 'yjs'
import { clockProblem, MAX_CLOCK_ADVANCE } from './clocks.js'
import { lastSeqOf, readOrderLogShape } from './order-log.js'
import {
  DEFAULT_LIMITS,
  DELETION_KEY_PREFIX,
  deletionKey,
  deletionRecordProblem,
  EDIT_KEY_PREFIX,
  editRecordProblem,
  emojiProblem,
  holdsMessages,
  isJsonValue,
  isMemberRecord,
  isValidId,
  isWatermark,
  type Limits,
  MEMBER_KEY_PREFIX,
  MESSAGE_KEY_PREFIX,
  META_ROOT,
  messageKey,
  messageRecordProblem,
  parseReactionKey,
  REACTION_KEY_PREFIX,
  RECEIPT_KEY_PREFIX,
  type Role,
  SERVER_ROOT,
  SYSTEM_ROOT,
  TITLE_KEY,
  userOfRoot,
  userRoot,
  type Watermark,
} from './schema.js'
import {
  EDIT_SIGNATURE_KEY_PREFIX,
  editSignatureRecordProblem,
  isEditSignatureRecord,
  isKeyRecord,
  KEY_RECORD_PREFIX,
  type KeyRecord,
  keyRecordChangeProblem,
  keyRecordProblem,
  SIGNATURE_KEY_PREFIX,
  signatureRecordProblem,
} from './signature-records.js'
import { dominates, joinWatermarks } from './status.js'

/** Who is writing: the authenticated user and their role in the conversation (undefined: none). */
export interface Writer {
  userId: string
  role: Role | undefined
  limits?: Limits
  /**
   * Whether a Yjs client id the document holds nothing of yet is already another user's (the
   * server knows this from awareness, where every peer announces its client id).
   */
  clientClaimedByOther?: (client: number) => boolean
  /**
   * Who wrote a message sealed into the store's history (issue 17: actions on sealed messages):
   * its author, null when no sealed message has that id, undefined when the host does not know
   * yet (the update is then refused `unknown-message`; a host may look it up and judge again).
   * Without it only the document answers, so actions on sealed messages are refused.
   */
  sealedAuthorOf?: (messageId: string) => string | null | undefined
}

export type RefusalCode =
  | 'malformed'
  | 'not-a-member'
  | 'read-only'
  | 'forbidden-root'
  | 'forbidden-key'
  | 'bad-shape'
  | 'too-large'
  | 'unresolvable'
  | 'immutable'
  | 'receipt-lowered'
  | 'receipt-ahead'
  | 'foreign-client'
  | 'not-author'
  | 'unknown-message'
  | 'too-many-reactions'

/** The WebSocket close code that goes with a refusal (DESIGN section 6). */
export type RefusalCloseCode = 4400 | 4403 | 4413

export type Verdict =
  | {
      ok: true
      /** Structs the document does not hold yet. */
      newStructs: number
      /** Live items the update deletes. */
      deletions: number
      /** Deleted clock ranges naming items the document does not hold: ignored, never applied. */
      unknownDeletions: number
      /**
       * The update starts after structs the document lacks (frames lost or reordered). Nothing in
       * it is wrong, but it cannot be checked or integrated yet: do not apply it; ask the sender to
       * resync (a y-websocket sync step 1 makes it send everything the document lacks).
       */
      incomplete: boolean
      /** The ids this update takes for its writer (see `Claim`); empty for a re-send. */
      claims: Claim[]
      /** Edits (`e|` entries) this update writes: hosts rate-limit them (issue 17). */
      edits: number
    }
  | { ok: false; code: RefusalCode; closeCode: RefusalCloseCode; reason: string }

/**
 * An id an update takes for good: a message id (`m|<id>`, held by its author's entry, named by the
 * item that holds it) or a Yjs client id (`c|<client>`, held by the user who writes with it). The
 * write rules refuse a second holder against the document; where several nodes accept updates for
 * one conversation, each judges against its own copy, so the store keeps the claims and refuses a
 * commit whose claim another node's commit already holds (DESIGN section 10: a constraint, not timing).
 * An identical holder is the same write arriving again, never a conflict.
 */
export interface Claim {
  key: string
  holder: string
}

const CLOSE_CODE: Record<RefusalCode, RefusalCloseCode> = {
  malformed: 4400,
  'not-a-member': 4403,
  'read-only': 4403,
  'forbidden-root': 4403,
  'forbidden-key': 4400,
  'bad-shape': 4400,
  'too-large': 4413,
  unresolvable: 4400,
  immutable: 4400,
  'receipt-lowered': 4400,
  'receipt-ahead': 4400,
  'foreign-client': 4403,
  'not-author': 4403,
  'unknown-message': 4400,
  'too-many-reactions': 4400,
}

/** Every close code a write-rules refusal can carry: the writer's unsent entries were refused. */
export const REFUSAL_CLOSE_CODES: ReadonlySet<number> = new Set(Object.values(CLOSE_CODE))

const INCOMPLETE: Verdict = Object.freeze({
  ok: true,
  newStructs: 0,
  deletions: 0,
  unknownDeletions: 0,
  incomplete: true,
  claims: [],
  edits: 0,
})

/** Claim keys of Yjs client ids (message ids claim their entry key, `m|<id>`). */
const CLIENT_CLAIM_PREFIX = 'c|'

class Refusal extends Error {
  constructor(
    readonly code: RefusalCode,
    reason: string,
  ) {
    super(reason)
  }
}

const refuse = (code: RefusalCode, reason: string): never => {
  throw new Refusal(code, reason)
}

type DeleteSet = ReturnType<typeof Y.createDeleteSet>
type Struct = Y.Item | Y.GC | Y.Skip
/** Where a struct sits: the root type's name and, for map entries, the key. */
interface Place {
  root: string
  key: string | null
}

/**
 * Decide whether `writer` may apply `update` to `doc`, **before** it is applied (Yjs has no
 * rollback). Every new item and every deletion is traced to the root type it touches: a user may
 * write only `u:<self>` (and `meta` as an owner), never `server`. Structs the document already holds
 * are re-sends and are skipped; a struct whose place cannot be resolved is refused, not guessed.
 *
 * Pure: reads `doc`, never changes it. The server enforces it; clients and the testkit use the same
 * function so that they never produce an update the server will refuse.
 */
export function checkUpdate(doc: Y.Doc, update: Uint8Array, writer: Writer): Verdict {
  try {
    return new UpdateCheck(doc, writer).run(update)
  } catch (error) {
    if (error instanceof Refusal) {
      return { ok: false, code: error.code, closeCode: CLOSE_CODE[error.code], reason: error.message }
    }
    return { ok: false, code: 'malformed', closeCode: 4400, reason: 'update could not be decoded' }
  }
}

class UpdateCheck {
  private readonly limits: Limits
  private readonly ownRoot: string
  private readonly structsByClient = new Map<number, Struct[]>()
  private readonly places = new Map<Struct, Place | null>()
  /** Receipt watermarks this update writes, to check that a deleted receipt is dominated. */
  private readonly newWatermarks: Watermark[] = []
  /** Key records this update writes and keeps: the only way a key record's item may be deleted. */
  private readonly keyRecordsWritten = new Set<string>()
  private deleteSet: DeleteSet = Y.createDeleteSet()
  private unknownDeletions = 0
  /** Live items this update deletes. */
  private deletedItems = new Set<Y.Item>()
  /**
   * This update's new map entries by root and key: the item the key will hold. When the update
   * carries several items of one key (two devices wrote it, and the overwritten one comes deleted
   * in the same update), that is the live one, whatever order the update lists them in.
   */
  private readonly freshEntries = new Map<string, Map<string, Y.Item>>()
  /** Message ids whose reaction count was checked. */
  private readonly reactionsChecked = new Set<string>()
  private liveOrderIds: Set<string> | undefined
  private edits = 0

  constructor(
    private readonly doc: Y.Doc,
    private readonly writer: Writer,
  ) {
    this.limits = writer.limits ?? DEFAULT_LIMITS
    this.ownRoot = userRoot(writer.userId)
  }

  run(update: Uint8Array): Verdict {
    const { structs, ds } = Y.decodeUpdate(update) as { structs: Struct[]; ds: DeleteSet }
    // Clocks first, GC and skip structs included: past the bound Yjs itself breaks (issue 12).
    const clocks = clockProblem(structs, ds)
    if (clocks) refuse('malformed', clocks)
    this.deleteSet = ds
    const fresh: Y.Item[] = []
    const advances = new Map<number, number>()
    let newStructs = 0
    for (const struct of structs) {
      const client = struct.id.client
      const list = this.structsByClient.get(client) ?? []
      this.structsByClient.set(client, list)
      list.push(struct)
      const known = Y.getState(this.doc.store, client)
      const end = struct.id.clock + struct.length
      if (end <= known) continue // a re-send: the room holds it
      const previous = list.length > 1 ? list[list.length - 2]! : undefined
      const expectedClock = previous ? previous.id.clock + previous.length : known
      if (struct instanceof Y.Skip || struct.id.clock > expectedClock) return INCOMPLETE
      const advance = (advances.get(client) ?? 0) + end - Math.max(struct.id.clock, known)
      if (advance > MAX_CLOCK_ADVANCE)
        refuse('malformed', `an update may add at most ${MAX_CLOCK_ADVANCE} clocks to a client`)
      advances.set(client, advance)
      newStructs++
      if (struct instanceof Y.Item) fresh.push(struct)
    }
    // A v1 update starts with its number of per-client runs. Yjs keeps only the last run of a
    // client named twice, while the structs above came from every run: what was checked would
    // not be what integrates (and the rest would sit pending, stored and relayed as it came).
    if (decoding.readVarUint(decoding.createDecoder(update)) > this.structsByClient.size) {
      refuse('malformed', 'an update names one client twice')
    }
    // Yjs holds back any item whose neighbours or parent it lacks, even one it already has (a
    // re-send): it would sit pending in the room, stored and relayed, waiting on clocks nobody may
    // ever send. Re-sends are checked too.
    for (const struct of structs) {
      if (struct instanceof Y.Item && this.lacksReference(struct)) {
        refuse('unresolvable', 'an item names a neighbour or parent the document lacks')
      }
    }
    const deletions = this.countDeletions(ds)
    const { unknownDeletions } = this
    if (newStructs === 0 && deletions.length === 0) {
      return {
        ok: true,
        newStructs: 0,
        deletions: 0,
        unknownDeletions,
        incomplete: false,
        claims: [],
        edits: 0,
      }
    }
    this.deletedItems = new Set(deletions)
    for (const item of fresh) {
      const place = this.placeOf(item)
      if (!place || place.key === null) continue
      const entries = this.freshEntries.get(place.root) ?? new Map<string, Y.Item>()
      this.freshEntries.set(place.root, entries)
      const previous = entries.get(place.key)
      if (!previous || !this.isLiveFresh(previous) || this.isLiveFresh(item)) entries.set(place.key, item)
    }

    if (this.writer.role === undefined) refuse('not-a-member', `${this.writer.userId} is not a member`)
    // An observer writes nothing, with one exception: entries it made as a member while offline
    // and then discarded (created and deleted) carry nothing, and must be sendable, or a member
    // demoted while offline could never sync again, not even to read.
    if (this.writer.role === 'observer' && !this.onlyDiscardedEntries(fresh, deletions)) {
      refuse('read-only', `${this.writer.userId} is an observer`)
    }

    const claims: Claim[] = []
    for (const [client, list] of this.structsByClient) {
      const known = Y.getState(this.doc.store, client)
      if (list.some((struct) => struct.id.clock + struct.length > known)) {
        this.checkClient(client, known)
        claims.push({ key: `${CLIENT_CLAIM_PREFIX}${client}`, holder: this.writer.userId })
      }
    }

    for (const item of fresh) {
      const key = this.checkItem(item)
      if (key?.startsWith(MESSAGE_KEY_PREFIX)) {
        claims.push({ key, holder: `${this.writer.userId} ${item.id.client}:${item.id.clock}` })
      }
    }
    const deletedItems = this.deletedItems
    for (const item of deletions) this.checkDeletion(item, deletedItems)
    const { edits } = this
    return {
      ok: true,
      newStructs,
      deletions: deletions.length,
      unknownDeletions,
      incomplete: false,
      claims,
      edits,
    }
  }

  /**
   * Check a new item; returns the key it writes in a user root (undefined for meta). An entry
   * created and discarded offline counts too: its id stays taken, as the rules judge it here.
   */
  private checkItem(item: Y.Item): string | undefined {
    const place = this.placeOf(item)
    if (!place) refuse('unresolvable', 'cannot resolve the parent of an item')
    const { root, key } = place!
    this.checkRootAccess(root)
    if (key === null) refuse('bad-shape', `${root} holds map entries only`)
    if (item.content instanceof Y.ContentDeleted) return root === META_ROOT ? undefined : key!
    if (
      !(item.content instanceof Y.ContentAny) ||
      item.content.arr.length !== 1 ||
      !isJsonValue(item.content.arr[0])
    ) {
      refuse('bad-shape', `${root}/${key} must hold one JSON value`)
    }
    const value = (item.content as Y.ContentAny).arr[0]
    if (root === META_ROOT) {
      this.checkMetaEntry(key!, value)
      return undefined
    }
    this.checkUserEntry(root, key!, value, Y.isDeleted(this.deleteSet, item.id), item)
    return key!
  }

  /** Whether the update only brings own-root entries it also deletes, and deletes nothing else. */
  private onlyDiscardedEntries(fresh: readonly Y.Item[], deletions: readonly Y.Item[]): boolean {
    const created = new Set(fresh)
    return (
      deletions.every((item) => created.has(item)) &&
      fresh.every((item) => {
        const place = this.placeOf(item)
        if (place?.root !== this.ownRoot) return false
        // A published key (signed messages) carries nothing to read or order: a member demoted
        // while offline keeps the key it published with a message it then discarded.
        if (place.key?.startsWith(KEY_RECORD_PREFIX)) return true
        return item.content instanceof Y.ContentDeleted || Y.isDeleted(this.deleteSet, item.id)
      })
    )
  }

  /**
   * A Yjs client id writes for one user. Structs under another user's client id, placed at clocks
   * the document does not hold yet, would make the document treat that user's own structs at those
   * clocks as re-sends and drop them: a member could silently block another's writes. The owner
   * is read from the latest struct of that client the document holds (or, for a client new to
   * it, from who announced it in awareness, through the writer's `clientClaimedByOther`).
   */
  private checkClient(client: number, known: number): void {
    if (known === 0) {
      if (this.writer.clientClaimedByOther?.(client)) {
        refuse('foreign-client', `client id ${client} belongs to another user`)
      }
      return
    }
    const root = this.rootOfClient(client)
    // Every struct of the client may be sealed away (garbage-collected): then who announced it decides.
    if (root === undefined) {
      if (this.writer.clientClaimedByOther?.(client)) {
        refuse('foreign-client', `client id ${client} belongs to another user`)
      }
      return
    }
    if (root === this.ownRoot) return
    if (root === META_ROOT && this.writer.role === 'owner') return
    refuse('foreign-client', `client id ${client} belongs to another writer (${root})`)
  }

  /** The root the latest resolvable struct of a client the document holds writes to. */
  private rootOfClient(client: number): string | undefined {
    const structs = this.doc.store.clients.get(client) ?? []
    for (let i = structs.length - 1; i >= 0; i--) {
      const struct = structs[i]
      if (struct instanceof Y.Item) {
        const place = this.placeOf(struct)
        if (place) return place.root
      }
    }
    return undefined
  }

  private checkRootAccess(root: string): void {
    if (root === this.ownRoot) return
    if (root === META_ROOT) {
      if (this.writer.role !== 'owner')
        refuse('forbidden-root', 'only owners may change the conversation meta')
      return
    }
    if (root === SERVER_ROOT) refuse('forbidden-root', 'only the server writes the order log')
    if (root === SYSTEM_ROOT) refuse('forbidden-root', 'only the server writes announcements')
    if (userOfRoot(root) !== undefined)
      refuse('forbidden-root', `may not write another user's entries (${root})`)
    refuse('forbidden-root', `unknown root type ${JSON.stringify(root)}`)
  }

  private checkUserEntry(
    root: string,
    key: string,
    value: unknown,
    deletedHere: boolean,
    item: Y.Item,
  ): void {
    if (key.startsWith(MESSAGE_KEY_PREFIX)) {
      const id = key.slice(MESSAGE_KEY_PREFIX.length)
      if (!isValidId(id, this.limits)) refuse('bad-shape', 'invalid message id')
      const problem = messageRecordProblem(value, id, this.limits)
      if (problem) refuse(problem.includes('exceeds') ? 'too-large' : 'bad-shape', problem)
      if (this.existingEntry(root, key)) refuse('immutable', `message ${id} already exists`)
      // Not refused where its deletion marker exists (no entry of it does): another device of the
      // author deleted it before this one's send reached the server. It shows as the tombstone,
      // and the author's device deletes the entry once it sees the marker.
      // Ids are global: another author's entry (even a discarded one) keeps its id, its seq and
      // its place in everyone's list.
      for (const name of this.doc.share.keys()) {
        if (name !== root && holdsMessages(name) && this.existingEntry(name, key)) {
          refuse('immutable', `message ${id} belongs to another author`)
        }
      }
      return
    }
    if (key.startsWith(RECEIPT_KEY_PREFIX)) {
      if (!isValidId(key.slice(RECEIPT_KEY_PREFIX.length), this.limits))
        refuse('bad-shape', 'invalid replica id')
      if (!isWatermark(value)) refuse('bad-shape', 'a receipt is { d, r } with 0 <= r <= d')
      const watermark = value as Watermark
      if (watermark.d > this.orderLength())
        refuse('receipt-ahead', 'receipt claims messages the server never stamped')
      const current = this.existingEntry(root, key)
      if (current && !current.deleted && current.content instanceof Y.ContentAny) {
        const old = current.content.arr[0]
        if (isWatermark(old) && !dominates(watermark, old))
          refuse('receipt-lowered', 'a receipt may only rise')
      }
      // Only a raise that survives this update may cover the deletion of another receipt.
      if (!deletedHere) this.newWatermarks.push(watermark)
      return
    }
    if (key.startsWith(EDIT_KEY_PREFIX)) {
      this.checkEdit(root, key.slice(EDIT_KEY_PREFIX.length), value, deletedHere)
      return
    }
    if (key.startsWith(DELETION_KEY_PREFIX)) {
      this.checkDeletionMarker(root, key, value)
      return
    }
    if (key.startsWith(REACTION_KEY_PREFIX)) {
      this.checkReaction(root, key, value, deletedHere)
      return
    }
    if (key.startsWith(KEY_RECORD_PREFIX)) {
      this.checkKeyRecord(root, key, value, deletedHere)
      return
    }
    if (key.startsWith(SIGNATURE_KEY_PREFIX)) {
      this.checkSignature(root, key, value)
      return
    }
    if (key.startsWith(EDIT_SIGNATURE_KEY_PREFIX)) {
      this.checkEditSignature(key, value, item)
      return
    }
    refuse('forbidden-key', `unknown key ${JSON.stringify(key)}`)
  }

  /**
   * A published key is immutable but for its revocation, and a revoked key never comes back
   * (signed messages, issue 16): whoever holds a lost device cannot make its key trusted again.
   */
  private checkKeyRecord(root: string, key: string, value: unknown, deletedHere: boolean): void {
    if (!isValidId(key.slice(KEY_RECORD_PREFIX.length), this.limits)) refuse('bad-shape', 'invalid key id')
    const problem = keyRecordProblem(value)
    if (problem) refuse('bad-shape', problem)
    const current = this.existingEntry(root, key)
    if (current && !current.deleted && current.content instanceof Y.ContentAny) {
      const old = current.content.arr[0]
      const change = isKeyRecord(old) ? keyRecordChangeProblem(old, value as KeyRecord) : undefined
      if (change) refuse('immutable', change)
    }
    if (!deletedHere) this.keyRecordsWritten.add(key)
  }

  /** A message's signature (issue 16): well formed and written once; the server never verifies it. */
  private checkSignature(root: string, key: string, value: unknown): void {
    if (!isValidId(key.slice(SIGNATURE_KEY_PREFIX.length), this.limits))
      refuse('bad-shape', 'invalid message id in a signature key')
    const problem = signatureRecordProblem(value, this.limits)
    if (problem) refuse('bad-shape', problem)
    // A deleted one too: it left with its message (sealed, discarded, deleted for everyone), and
    // a second signature would be a rewrite.
    if (this.existingEntry(root, key)) refuse('immutable', `${key} is already signed`)
  }

  /**
   * An edit's signature (issue 17) replaces only an older edit's: judged against the entry its
   * writer replaced (the item's origin), not the room's latest, so two devices of the author
   * signing concurrent edits are both taken and Yjs keeps one, as it keeps one of their edits.
   */
  private checkEditSignature(key: string, value: unknown, item: Y.Item): void {
    if (!isValidId(key.slice(EDIT_SIGNATURE_KEY_PREFIX.length), this.limits))
      refuse('bad-shape', 'invalid message id in an edit signature key')
    const problem = editSignatureRecordProblem(value, this.limits)
    if (problem) refuse('bad-shape', problem)
    const replaced = item.origin ? this.findStruct(item.origin) : undefined
    const old =
      replaced instanceof Y.Item && replaced.content instanceof Y.ContentAny
        ? replaced.content.arr[0]
        : undefined
    if (isEditSignatureRecord(old) && old.editedAt >= (value as { editedAt: number }).editedAt) {
      refuse('immutable', "an edit signature may only be replaced by a newer edit's")
    }
  }

  /** An edit (issue 17): only of the writer's own message, never of one deleted for everyone. */
  private checkEdit(root: string, id: string, value: unknown, deletedHere: boolean): void {
    if (!isValidId(id, this.limits)) refuse('bad-shape', 'invalid message id')
    const problem = editRecordProblem(value, this.limits)
    if (problem) refuse(problem.includes('exceeds') ? 'too-large' : 'bad-shape', problem)
    // An edit of a message its author deleted is not refused: it is what an edit made offline on
    // one device looks like once another device deleted the message, and refusing it would stop
    // that device (its reconnect sends the edit before it can see the deletion). The tombstone
    // wins in every list, and the author's device deletes the edit as soon as it sees the marker.
    this.checkOwnMessage(root, id)
    if (!deletedHere) this.edits++
  }

  /** A deletion for everyone: of the writer's own message, once and for good. */
  private checkDeletionMarker(root: string, key: string, value: unknown): void {
    const id = key.slice(DELETION_KEY_PREFIX.length)
    if (!isValidId(id, this.limits)) refuse('bad-shape', 'invalid message id')
    const problem = deletionRecordProblem(value, this.limits)
    if (problem) refuse('bad-shape', problem)
    // Two devices of the author may delete it concurrently: the second marker says the same, and
    // Yjs keeps one of them. Overwriting one seen (which deletes it) is refused in checkDeletion.
    this.checkOwnMessage(root, id)
  }

  /** A reaction: `true` at `x|<id>|<emoji>`, on a message that exists, a few per message. */
  private checkReaction(root: string, key: string, value: unknown, deletedHere: boolean): void {
    const reaction = parseReactionKey(key)
    if (!reaction) refuse('forbidden-key', `unknown key ${JSON.stringify(key)}`)
    const { messageId, emoji } = reaction!
    if (!isValidId(messageId, this.limits)) refuse('bad-shape', 'invalid message id')
    const problem = emojiProblem(emoji, this.limits)
    if (problem) refuse('bad-shape', problem)
    if (value !== true) refuse('bad-shape', 'a reaction holds true')
    if (deletedHere) return
    // Reactions on a message deleted for everyone are kept (a member offline when it was deleted
    // must not be refused for it) but never shown.
    if (this.authorOf(messageId) === null) refuse('unknown-message', `no message ${messageId}`)
    if (this.reactionsChecked.has(messageId)) return
    this.reactionsChecked.add(messageId)
    const prefix = `${REACTION_KEY_PREFIX}${messageId}|`
    const kept = new Set<string>()
    for (const [entryKey, item] of this.doc.share.get(root)?._map ?? []) {
      if (entryKey.startsWith(prefix) && !item.deleted && !this.deletedItems.has(item)) kept.add(entryKey)
    }
    for (const [entryKey, item] of this.freshEntries.get(root) ?? []) {
      if (entryKey.startsWith(prefix) && this.isLiveFresh(item)) kept.add(entryKey)
    }
    if (kept.size > this.limits.maxReactionsPerMessage) {
      refuse('too-many-reactions', `at most ${this.limits.maxReactionsPerMessage} reactions per message`)
    }
  }

  /** The writer's own message: live in its root (the document or this update), or sealed as theirs. */
  private checkOwnMessage(root: string, id: string): void {
    const author = this.authorOf(id)
    if (author === null) refuse('unknown-message', `no message ${id}`)
    if (author !== root) refuse('not-author', `message ${id} is another author's`)
  }

  /**
   * The root of the message with this id: an entry (document or update, live or deleted), then
   * the host's sealed history; null when none holds it. Refuses `unknown-message` while the host does not know.
   */
  private authorOf(id: string): string | null {
    const key = messageKey(id)
    for (const [name, type] of this.doc.share) {
      if (!holdsMessages(name)) continue
      // A deleted entry still names its author (a message discarded, or sealed and not yet
      // compacted): an action a replica made while it was shown must not be refused for good.
      if (type._map.has(key)) return name
    }
    for (const [name, entries] of this.freshEntries) if (holdsMessages(name) && entries.has(key)) return name
    if (this.hasDeletionMarker(this.ownRoot, id)) return this.ownRoot
    const sealed = this.writer.sealedAuthorOf?.(id)
    if (sealed === undefined && this.writer.sealedAuthorOf)
      refuse('unknown-message', `message ${id} is not known yet`)
    return sealed ? userRoot(sealed) : null
  }

  /** Whether a root holds a deletion marker for the message (in the document or this update). */
  private hasDeletionMarker(root: string, id: string): boolean {
    const key = deletionKey(id)
    const existing = this.existingEntry(root, key)
    if (existing && !existing.deleted) return true
    const fresh = this.freshEntries.get(root)?.get(key)
    return fresh !== undefined && this.isLiveFresh(fresh)
  }

  /** Whether this update deletes the message entry `m|<id>` of `root` (the room's, or its own new one). */
  private deletesMessageHere(root: string, id: string): boolean {
    const key = messageKey(id)
    const existing = this.existingEntry(root, key)
    if (existing && this.deletedItems.has(existing)) return true
    const fresh = this.freshEntries.get(root)?.get(key)
    return fresh !== undefined && !this.isLiveFresh(fresh)
  }

  private isLiveFresh(item: Y.Item): boolean {
    return !(item.content instanceof Y.ContentDeleted) && !Y.isDeleted(this.deleteSet, item.id)
  }

  /** Message ids the live order log holds (stamped and not sealed). */
  private stampedIds(): Set<string> {
    this.liveOrderIds ??= new Set(
      this.doc.share.has(SERVER_ROOT)
        ? readOrderLogShape(this.doc.getArray<string>(SERVER_ROOT)).entries
        : [],
    )
    return this.liveOrderIds
  }

  private checkMetaEntry(key: string, value: unknown): void {
    if (key === TITLE_KEY) {
      if (typeof value !== 'string' || value.length > this.limits.maxTitleLength)
        refuse('bad-shape', 'invalid title')
      return
    }
    if (key.startsWith(MEMBER_KEY_PREFIX)) {
      if (!isValidId(key.slice(MEMBER_KEY_PREFIX.length), this.limits))
        refuse('bad-shape', 'invalid member id')
      if (!isMemberRecord(value)) refuse('bad-shape', 'a member is { role, joinedAt }')
      return
    }
    refuse('forbidden-key', `unknown meta key ${JSON.stringify(key)}`)
  }

  private checkDeletion(item: Y.Item, deletedItems: Set<Y.Item>): void {
    const place = this.placeOf(item)
    if (!place) refuse('unresolvable', 'cannot resolve a deleted item')
    const { root, key } = place!
    this.checkRootAccess(root)
    if (root !== this.ownRoot || key === null) return
    // Deleting a key record would un-revoke it: only a revocation, which replaces the record (Yjs
    // deletes the item it overwrites), may remove its item.
    if (key.startsWith(KEY_RECORD_PREFIX) && !this.keyRecordsWritten.has(key)) {
      refuse('immutable', 'a published key cannot be deleted: revoke it')
    }
    // A marker may only give way to another marker of the same message (two devices deleted it
    // at once, and Yjs keeps one): the message stays deleted either way.
    if (key.startsWith(DELETION_KEY_PREFIX)) {
      const fresh = this.freshEntries.get(root)?.get(key)
      const current = this.existingEntry(root, key)
      const kept =
        (fresh !== undefined && this.isLiveFresh(fresh)) ||
        (current !== undefined && current !== item && !current.deleted && !deletedItems.has(current))
      if (!kept) refuse('immutable', 'a deletion for everyone is permanent')
    }
    // A signature leaves only with what it signs: its message discarded or deleted for everyone in
    // the same update (the sequencer's seal is the server's own write, not judged here).
    if (key.startsWith(SIGNATURE_KEY_PREFIX)) {
      const id = key.slice(SIGNATURE_KEY_PREFIX.length)
      if (!this.hasDeletionMarker(root, id) && !this.deletesMessageHere(root, id)) {
        refuse('immutable', `a signature (${key}) leaves only with its message`)
      }
      return
    }
    // An edit's signature gives way to a newer edit's, or goes with a deletion for everyone.
    if (key.startsWith(EDIT_SIGNATURE_KEY_PREFIX)) {
      const fresh = this.freshEntries.get(root)?.get(key)
      const id = key.slice(EDIT_SIGNATURE_KEY_PREFIX.length)
      if ((!fresh || !this.isLiveFresh(fresh)) && !this.hasDeletionMarker(root, id)) {
        refuse('immutable', `an edit signature (${key}) is replaced only by a newer edit's`)
      }
      return
    }
    if (key.startsWith(MESSAGE_KEY_PREFIX)) {
      // A sent message leaves the document only as a tombstone (issue 17): its place and seq stay.
      const id = key.slice(MESSAGE_KEY_PREFIX.length)
      if (this.stampedIds().has(id) && !this.hasDeletionMarker(root, id)) {
        refuse('immutable', `a sent message (${id}) is deleted for everyone with a d| marker`)
      }
      return
    }
    if (!key.startsWith(RECEIPT_KEY_PREFIX)) return
    // Deleting a receipt is how a replica keeps the map small. It is lawful only when what remains
    // of the user's receipts still covers it; otherwise observers would see the watermark go down.
    const deleted = item.content instanceof Y.ContentAny ? item.content.arr[0] : undefined
    if (isWatermark(deleted) && !dominates(this.remainingWatermark(deletedItems), deleted)) {
      refuse('receipt-lowered', 'a receipt may be deleted only by a raise that covers it')
    }
  }

  /** The writer's merged watermark once this update is applied: new raises plus surviving keys. */
  private remainingWatermark(deletedItems: Set<Y.Item>): Watermark {
    let merged: Watermark = { d: 0, r: 0 }
    for (const watermark of this.newWatermarks) merged = joinWatermarks(merged, watermark)
    const own = this.doc.share.get(this.ownRoot)
    for (const [key, entry] of own?._map ?? []) {
      if (!key.startsWith(RECEIPT_KEY_PREFIX) || entry.deleted || deletedItems.has(entry)) continue
      const value = entry.content instanceof Y.ContentAny ? entry.content.arr[0] : undefined
      if (isWatermark(value)) merged = joinWatermarks(merged, value)
    }
    return merged
  }

  /** Live items the update deletes (already-deleted ones are re-sends). */
  private countDeletions(ds: DeleteSet): Y.Item[] {
    const items: Y.Item[] = []
    for (const [client, ranges] of ds.clients) {
      const state = Y.getState(this.doc.store, client)
      for (const { clock, len } of ranges) {
        const end = clock + len
        let covered = Math.min(end, state)
        if (covered > clock) {
          const docStructs = this.doc.store.clients.get(client)!
          for (let i = Y.findIndexSS(docStructs, clock); i < docStructs.length; i++) {
            const struct = docStructs[i]!
            if (struct.id.clock >= end) break
            if (struct instanceof Y.Item && !struct.deleted) items.push(struct)
          }
        } else {
          covered = clock
        }
        for (const struct of this.structsByClient.get(client) ?? []) {
          const from = struct.id.clock
          const to = from + struct.length
          // A re-send (the room holds it) was judged above, from the room's own structs: the
          // range may end inside it (a sealed part of a merged run of order-log entries).
          if (to <= covered || from >= end || to <= state) continue
          if (struct instanceof Y.Item) items.push(struct)
          covered = Math.max(covered, to)
        }
        // Deletions of items the room does not hold are not refused: Yjs sends a replica's whole
        // delete set, which names items it learned elsewhere (another tab of the same user). They are
        // not applied either — see `applyCheckedUpdate` — so nobody can pre-delete a future item.
        if (covered < end) this.unknownDeletions += end - covered
      }
    }
    return items
  }

  /** Resolve the root and map key of an item, following origins where the update omits the parent. */
  private placeOf(start: Y.Item): Place | null {
    const chain: Struct[] = []
    let struct: Struct | undefined = start
    let place: Place | null = null
    const visited = new Set<Struct>()
    while (struct) {
      const memo = this.places.get(struct)
      if (memo !== undefined) {
        place = memo
        break
      }
      // A crafted item may name itself (or a later item of the chain) as its origin: a cycle
      // resolves to nothing, and would otherwise never end (the fuzz found one: a receipt of a
      // client new to the room whose clock was set to its origin's).
      if (visited.has(struct)) break
      visited.add(struct)
      chain.push(struct)
      if (!(struct instanceof Y.Item)) break
      const parent = struct.parent as unknown
      if (typeof parent === 'string') {
        place = { root: parent, key: struct.parentSub }
        break
      }
      if (parent instanceof Y.AbstractType) {
        // Ticks roots hold JSON values only; nested types are never written.
        place = parent._item === null ? { root: Y.findRootTypeKey(parent), key: struct.parentSub } : null
        break
      }
      if (parent instanceof Y.ID) break
      const ref: Y.ID | null = struct.origin ?? struct.rightOrigin
      struct = ref ? this.findStruct(ref) : undefined
    }
    for (const visited of chain) this.places.set(visited, place)
    return place
  }

  /** Whether an item names an origin, right origin or parent (by id) that neither the doc nor the update holds. */
  private lacksReference(item: Y.Item): boolean {
    const parent = item.parent as unknown
    const references = [item.origin, item.rightOrigin, parent instanceof Y.ID ? parent : null]
    return references.some((id) => id !== null && !this.findStruct(id))
  }

  private findStruct(id: Y.ID): Struct | undefined {
    if (id.clock < Y.getState(this.doc.store, id.client)) {
      return Y.getItem(this.doc.store, id) as Struct
    }
    // A client's structs in an update are one run in clock order: search it, do not scan it (an
    // offline outbox can hold many thousand items that each name the one before).
    const list = this.structsByClient.get(id.client)
    if (!list) return undefined
    let low = 0
    let high = list.length - 1
    while (low <= high) {
      const middle = (low + high) >>> 1
      const struct = list[middle]!
      if (id.clock < struct.id.clock) high = middle - 1
      else if (id.clock >= struct.id.clock + struct.length) low = middle + 1
      else return struct
    }
    return undefined
  }

  private existingEntry(root: string, key: string): Y.Item | undefined {
    const type = this.doc.share.get(root)
    return type?._map.get(key)
  }

  /** The highest seq stamped, sealed entries included (receipts are over absolute seq). */
  private orderLength(): number {
    return lastSeqOf(this.doc)
  }
}

/**
 * Apply an update that `checkUpdate` accepted. Deletions of items the document does not hold are
 * dropped instead of being kept pending: the check could not attribute them to a root, so applying
 * them later (when the item arrives) would let one member delete another's future entries. The
 * replica that made them re-sends its whole delete set on its next sync, when they can be checked.
 *
 * Persist what the document's `update` event emits, not the raw input, so the store holds exactly
 * what was applied.
 */
export function applyCheckedUpdate(doc: Y.Doc, update: Uint8Array, origin?: unknown): void {
  Y.applyUpdate(doc, update, origin)
  doc.store.pendingDs = null
}

import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import { readOrderLogShape } from './order-log.js'
import { holdsMessages, MESSAGE_KEY_PREFIX, SERVER_ROOT } from './schema.js'
import { SIGNATURE_KEY_PREFIX } from './signature-records.js'

type Struct = Y.Item | Y.GC | Y.Skip
type DeleteSet = ReturnType<typeof Y.createDeleteSet>

/**
 * The document's state as one update in which deleted message entries hold no key (DESIGN
 * section 12): what a store keeps as a snapshot and a fresh replica loads.
 *
 * Yjs keeps a deleted map entry as a struct with its parent's name and its key (~35 bytes for a
 * message), forever, because a later write of the same key names it as its origin. A message
 * entry is never written again (messages are immutable: the write rules refuse it), so once
 * deleted — sealed into history, or discarded — nothing can ever name it, and it can become a
 * garbage-collected range like the children of a deleted type: two bytes, and one range for a
 * whole run of one client's consecutive messages. A message's signature (`s|<id>`, issue 16) is
 * written once too and leaves with its message, so its deleted entry goes the same way. Kept:
 * entries the live order log still names
 * (a message discarded after its stamp, which replicas must see as deleted, not as missing), and
 * everything else (overwritten receipts are named by the next raise of their key).
 *
 * The state vector does not change, so replicas holding the full entries sync with it as before.
 */
export function compactSealedEntries(doc: Y.Doc): Uint8Array {
  const update = Y.encodeStateAsUpdate(doc)
  const live = new Set(liveOrderIds(doc))
  const { structs, ds } = Y.decodeUpdate(update) as { structs: Struct[]; ds: DeleteSet }
  let collected = 0
  const compacted = structs.map((struct) => {
    if (!isCollectable(struct, live, ds)) return struct
    collected++
    return new Y.GC(struct.id, struct.length)
  })
  return collected === 0 ? update : encodeUpdate(mergeCollected(compacted), ds)
}

/**
 * The same collection in a live document, in place: deleted message (and signature) entries that the live order
 * log does not name become garbage-collected ranges and leave their root's key table. A document
 * that sealed while loaded (a room open for weeks) then holds what one loaded from the compacted
 * snapshot holds, instead of ~35 bytes per sealed message for as long as it stays loaded, and a
 * replica joining it is sent the compact form (a fresh browser joining a 20,000-message
 * conversation decoded 720 KB of tombstones instead of 150 KB). Safe for the reason above:
 * nothing can ever name such an entry again. Call outside a transaction. Returns how many.
 */
export function collectSealedEntries(doc: Y.Doc): number {
  const live = new Set(liveOrderIds(doc))
  let collected = 0
  const clients = new Set<number>()
  for (const [name, type] of doc.share) {
    if (!holdsMessages(name)) continue
    for (const [key, item] of type._map) {
      if (!item.deleted || item.origin !== null || item.left !== null || item.right !== null) continue
      const id = messageIdOfSealable(key)
      if (id === undefined || live.has(id)) continue
      type._map.delete(key)
      item.gc(doc.store, true)
      clients.add(item.id.client)
      collected++
    }
  }
  // One range per run, as Yjs keeps its own collected structs (and as the snapshot encodes them).
  for (const client of clients) doc.store.clients.set(client, mergeCollected(doc.store.clients.get(client)!))
  return collected
}

function liveOrderIds(doc: Y.Doc): string[] {
  return doc.share.has(SERVER_ROOT) ? readOrderLogShape(doc.getArray<string>(SERVER_ROOT)).entries : []
}

/** The message id of a key written once per message (`m|<id>`, `s|<id>`), else undefined. */
function messageIdOfSealable(key: string): string | undefined {
  if (key.startsWith(MESSAGE_KEY_PREFIX)) return key.slice(MESSAGE_KEY_PREFIX.length)
  if (key.startsWith(SIGNATURE_KEY_PREFIX)) return key.slice(SIGNATURE_KEY_PREFIX.length)
  return undefined
}

/** A deleted message (or signature) entry of a user root that the live order log does not name. */
function isCollectable(struct: Struct, live: ReadonlySet<string>, ds: DeleteSet): struct is Y.Item {
  if (!(struct instanceof Y.Item) || struct.length !== 1) return false
  if (!(struct.content instanceof Y.ContentDeleted) && !Y.isDeleted(ds, struct.id)) return false
  const parent = struct.parent as unknown
  const id = struct.parentSub === null ? undefined : messageIdOfSealable(struct.parentSub)
  // Message entries are first writes of their key: no origin, so the update names parent and key.
  return (
    struct.origin === null &&
    typeof parent === 'string' &&
    holdsMessages(parent) &&
    id !== undefined &&
    !live.has(id)
  )
}

/** Neighbouring garbage-collected ranges of one client as one range, as Yjs keeps them itself. */
function mergeCollected(structs: readonly Struct[]): Struct[] {
  const merged: Struct[] = []
  for (const struct of structs) {
    const last = merged[merged.length - 1]
    if (
      last instanceof Y.GC &&
      struct instanceof Y.GC &&
      last.id.client === struct.id.client &&
      last.id.clock + last.length === struct.id.clock
    ) {
      merged[merged.length - 1] = new Y.GC(last.id, last.length + struct.length)
    } else {
      merged.push(struct)
    }
  }
  return merged
}

/**
 * Structs and a delete set as a v1 update: per client (in the order given, each client's structs
 * contiguous and in clock order), the count, the client, the first clock and each struct; then
 * the delete set with clients in descending order, as Yjs writes it.
 */
function encodeUpdate(structs: readonly Struct[], ds: DeleteSet): Uint8Array {
  const encoder = new Y.UpdateEncoderV1()
  const byClient = new Map<number, Struct[]>()
  for (const struct of structs) {
    const list = byClient.get(struct.id.client)
    if (list) list.push(struct)
    else byClient.set(struct.id.client, [struct])
  }
  encoding.writeVarUint(encoder.restEncoder, byClient.size)
  for (const [client, list] of byClient) {
    encoding.writeVarUint(encoder.restEncoder, list.length)
    encoder.writeClient(client)
    encoding.writeVarUint(encoder.restEncoder, list[0]!.id.clock)
    for (const struct of list) struct.write(encoder, 0)
  }
  const clients = [...ds.clients.entries()].sort((a, b) => b[0] - a[0])
  encoding.writeVarUint(encoder.restEncoder, clients.length)
  for (const [client, ranges] of clients) {
    encoder.resetDsCurVal()
    encoding.writeVarUint(encoder.restEncoder, client)
    encoding.writeVarUint(encoder.restEncoder, ranges.length)
    for (const { clock, len } of ranges) {
      encoder.writeDsClock(clock)
      encoder.writeDsLen(len)
    }
  }
  return encoder.toUint8Array()
}

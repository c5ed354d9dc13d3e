import { type ByteCursor, createCursor, type Span, type VarintField, WalkError } from './byte-cursor.js'

/**
 * Takes a Yjs V1 update apart (the layout Yjs's `readClientsStructRefs` and `readDeleteSet` read)
 * and records the span of every varint and every section: per-client struct runs, structs, the
 * delete set's entries and ranges. Mutators use the layout to rewrite one field, or to duplicate,
 * drop or reorder whole sections, and still produce bytes Yjs parses far enough to reach the
 * server's checks, which is where the interesting refusals (and the issue 12 bugs) are.
 */

export type StructKind = 'gc' | 'skip' | 'item'

export interface StructLayout extends Span {
  kind: StructKind
  /** Offset of the info byte (content ref in the low 5 bits, origin/right origin/parentSub flags above). */
  infoAt: number
}

/** One client's run: struct count, client id, first clock, then its structs. */
export interface ClientRun extends Span {
  structs: StructLayout[]
}

/** One client of the delete set: client id, range count, then (clock, length) ranges. */
export interface DeleteSetEntry extends Span {
  ranges: Span[]
}

export interface UpdateLayout {
  varints: VarintField[]
  runs: ClientRun[]
  /** From the delete set's client count to its end. */
  deleteSet: Span
  deleteSetEntries: DeleteSetEntry[]
  /** Bytes the update uses; anything after is trailing garbage. */
  end: number
}

const GC_REF = 0
const SKIP_REF = 10
const HAS_ORIGIN = 0x80
const HAS_RIGHT_ORIGIN = 0x40
const HAS_PARENT_SUB = 0x20
const CONTENT_REF_BITS = 0x1f
/** Yjs type refs that carry a node name (YXmlElement, YXmlHook). */
const NAMED_TYPE_REFS = new Set([3n, 5n])

/** Walk a V1 update; throws WalkError where Yjs would fail to read it. */
export function walkUpdate(update: Uint8Array): UpdateLayout {
  const cursor = createCursor(update)
  const runs: ClientRun[] = []
  const runCount = cursor.count('client-runs')
  for (let r = 0; r < runCount; r++) {
    const start = cursor.position
    const structCount = cursor.count('run-structs')
    cursor.varint('run-client')
    cursor.varint('run-clock')
    const structs: StructLayout[] = []
    for (let s = 0; s < structCount; s++) structs.push(walkStruct(cursor))
    runs.push({ start, end: cursor.position, structs })
  }
  const deleteSetStart = cursor.position
  const deleteSetEntries: DeleteSetEntry[] = []
  const dsClients = cursor.count('ds-clients')
  for (let c = 0; c < dsClients; c++) {
    const start = cursor.position
    cursor.varint('ds-client')
    const rangeCount = cursor.count('ds-ranges')
    const ranges: Span[] = []
    for (let i = 0; i < rangeCount; i++) {
      const rangeStart = cursor.position
      cursor.varint('ds-clock')
      cursor.varint('ds-length')
      ranges.push({ start: rangeStart, end: cursor.position })
    }
    deleteSetEntries.push({ start, end: cursor.position, ranges })
  }
  return {
    varints: cursor.varints,
    runs,
    deleteSet: { start: deleteSetStart, end: cursor.position },
    deleteSetEntries,
    end: cursor.position,
  }
}

function walkStruct(cursor: ByteCursor): StructLayout {
  const start = cursor.position
  const info = cursor.byte()
  const ref = info & CONTENT_REF_BITS
  if (ref === GC_REF) {
    cursor.varint('gc-length')
    return { start, end: cursor.position, kind: 'gc', infoAt: start }
  }
  if (ref === SKIP_REF) {
    cursor.varint('skip-length')
    return { start, end: cursor.position, kind: 'skip', infoAt: start }
  }
  if (info & HAS_ORIGIN) {
    cursor.varint('origin-client')
    cursor.varint('origin-clock')
  }
  if (info & HAS_RIGHT_ORIGIN) {
    cursor.varint('right-origin-client')
    cursor.varint('right-origin-clock')
  }
  // Yjs copies the parent from a neighbour when the item names one; else the parent follows.
  if ((info & (HAS_ORIGIN | HAS_RIGHT_ORIGIN)) === 0) {
    // Yjs reads "1" as a root type's name and anything else as the id of a parent item.
    if (cursor.varint('parent-info') === 1n) cursor.lengthPrefixed('parent-key-length')
    else {
      cursor.varint('parent-id-client')
      cursor.varint('parent-id-clock')
    }
    if (info & HAS_PARENT_SUB) cursor.lengthPrefixed('parent-sub-length')
  }
  walkContent(cursor, ref)
  return { start, end: cursor.position, kind: 'item', infoAt: start }
}

/** The content of an item, by its ref (Yjs's `contentRefs`). */
function walkContent(cursor: ByteCursor, ref: number): void {
  switch (ref) {
    case 1: // ContentDeleted
      cursor.varint('content-length')
      return
    case 2: {
      // ContentJSON
      const count = cursor.count('content-length')
      for (let i = 0; i < count; i++) cursor.lengthPrefixed('string-length')
      return
    }
    case 3: // ContentBinary
      cursor.lengthPrefixed('buffer-length')
      return
    case 4: // ContentString
    case 5: // ContentEmbed (a JSON string)
      cursor.lengthPrefixed('string-length')
      return
    case 6: // ContentFormat: key, JSON value
      cursor.lengthPrefixed('string-length')
      cursor.lengthPrefixed('string-length')
      return
    case 7: // ContentType
      if (NAMED_TYPE_REFS.has(cursor.varint('type-ref'))) cursor.lengthPrefixed('string-length')
      return
    case 8: {
      // ContentAny
      const count = cursor.count('content-length')
      for (let i = 0; i < count; i++) cursor.any()
      return
    }
    case 9: // ContentDoc: guid, options
      cursor.lengthPrefixed('string-length')
      cursor.any()
      return
    default:
      throw new WalkError(`unknown content ref ${ref}`)
  }
}

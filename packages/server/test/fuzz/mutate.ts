import { writeAwareness, writeSyncStep1, writeSyncStep2, writeUpdate } from '../../src/sync/protocol.js'
import type { Span, VarintField } from './byte-cursor.js'
import type { Random } from './random.js'
import { walkUpdate } from './update-walker.js'
import { EXTREME_VALUES, encodeVarUint } from './varuint.js'
import { walkAwareness, walkFrame, walkStateVector } from './wire-walker.js'

/**
 * Structure-aware mutation. A specimen is a payload mallory could send honestly (or a crafted one)
 * plus how it is framed; a mutant is one change to it, framed again with a correct length prefix
 * unless the change is to the frame itself. Fields are rewritten as exact BigInt varints, so the
 * server sees 2^64−1 and not whatever a JS number rounds it to.
 */

/** An entry of the conversation's document, by root and key. */
export interface EntryRef {
  root: string
  key: string
}

export type Specimen =
  | {
      kind: 'update'
      label: string
      step: 'update' | 'sync-step-2'
      update: Uint8Array
      /** Entries the update writes that the room must never hold once it refused the update (a batch is all or none). */
      neverApplied?: EntryRef[]
    }
  | { kind: 'state-vector'; label: string; stateVector: Uint8Array }
  | { kind: 'awareness'; label: string; awareness: Uint8Array }

export interface Mutant {
  label: string
  frame: Uint8Array
}

/** Sibling sections counted by a varint in front of them: runs, structs, delete-set entries, ranges. */
interface Sequence {
  name: string
  count: VarintField
  items: Span[]
}

interface PayloadLayout {
  varints: VarintField[]
  sequences: Sequence[]
}

interface Edit extends Span {
  bytes: Uint8Array
}

export function payloadOf(specimen: Specimen): Uint8Array {
  if (specimen.kind === 'update') return specimen.update
  return specimen.kind === 'state-vector' ? specimen.stateVector : specimen.awareness
}

export function frameOf(specimen: Specimen, payload: Uint8Array = payloadOf(specimen)): Uint8Array {
  if (specimen.kind === 'state-vector') return writeSyncStep1(payload)
  if (specimen.kind === 'awareness') return writeAwareness(payload)
  return specimen.step === 'update' ? writeUpdate(payload) : writeSyncStep2(payload)
}

/** Every varint of the payload and of the frame set to every value: the systematic sweep. */
export function varintSweep(specimen: Specimen, values: readonly bigint[] = EXTREME_VALUES): Mutant[] {
  const payload = payloadOf(specimen)
  const mutants: Mutant[] = []
  for (const field of layoutOf(specimen).varints) {
    for (const value of values) {
      if (value === field.value) continue
      mutants.push({
        label: `${specimen.label}: ${field.role}@${field.start} = ${value}`,
        frame: frameOf(specimen, rewrite(payload, [{ ...field, bytes: encodeVarUint(value) }])),
      })
    }
  }
  const frame = frameOf(specimen)
  for (const field of walkFrame(frame).varints) {
    for (const value of values) {
      if (value === field.value) continue
      mutants.push({
        label: `${specimen.label}: frame ${field.role} = ${value}`,
        frame: rewrite(frame, [{ ...field, bytes: encodeVarUint(value) }]),
      })
    }
  }
  return mutants
}

/**
 * Values worth trying beside the extremes: ids of other writers (alice's, bob's, the room's own
 * client), the server's documented bounds and their neighbours.
 */
export interface MutationContext {
  interesting: readonly bigint[]
  /** Another payload of the same kind, for splicing sections across specimens. */
  other?: Specimen
}

type Mutator = (specimen: Specimen, layout: PayloadLayout, random: Random, context: MutationContext) => Mutant

const MUTATORS: Record<string, Mutator> = {
  'extreme-varint': (specimen, layout, random) =>
    setVarint(specimen, random.pick(layout.varints), random.pick(EXTREME_VALUES)),
  'interesting-varint': (specimen, layout, random, context) =>
    setVarint(specimen, random.pick(layout.varints), random.pick(context.interesting)),
  'nudged-varint': (specimen, layout, random) => {
    const field = random.pick(layout.varints)
    const nudges = [
      field.value + 1n,
      field.value > 0n ? field.value - 1n : 2n,
      field.value * 2n,
      field.value << 32n,
    ]
    return setVarint(specimen, field, random.pick(nudges))
  },
  'truncate-payload': (specimen, _layout, random) => {
    const payload = payloadOf(specimen)
    const at = random.int(payload.length)
    return {
      label: `${specimen.label}: payload cut at ${at}`,
      frame: frameOf(specimen, payload.slice(0, at)),
    }
  },
  'truncate-frame': (specimen, _layout, random) => {
    const frame = frameOf(specimen)
    const at = random.int(frame.length)
    return { label: `${specimen.label}: frame cut at ${at}`, frame: frame.slice(0, at) }
  },
  'duplicate-section': (specimen, layout, random) => sequenceEdit(specimen, layout, random, 'duplicate'),
  'drop-section': (specimen, layout, random) => sequenceEdit(specimen, layout, random, 'drop'),
  'swap-sections': (specimen, layout, random) => sequenceEdit(specimen, layout, random, 'swap'),
  'reverse-sections': (specimen, layout, random) => sequenceEdit(specimen, layout, random, 'reverse'),
  'splice-other': (specimen, layout, random, context) => {
    // The struct runs of one update with the delete set of another (or any section of another
    // payload of the same kind appended): sections that each parse, in a combination nobody made.
    const other = context.other && context.other.kind === specimen.kind ? context.other : specimen
    const payload = payloadOf(specimen)
    const donor = payloadOf(other)
    const cut = random.pick(sectionBoundaries(layout))
    const donorCut = random.pick(sectionBoundaries(layoutOf(other)))
    const spliced = concat(payload.slice(0, cut), donor.slice(donorCut))
    return {
      label: `${specimen.label}: [0,${cut}) + ${other.label}[${donorCut},…)`,
      frame: frameOf(specimen, spliced),
    }
  },
  'flip-byte': (specimen, _layout, random) => {
    const payload = payloadOf(specimen).slice()
    if (payload.length === 0) return { label: `${specimen.label}: empty`, frame: frameOf(specimen, payload) }
    const at = random.int(payload.length)
    const mask = 1 + random.int(255)
    payload[at] = payload[at]! ^ mask
    return { label: `${specimen.label}: byte ${at} ^= ${mask}`, frame: frameOf(specimen, payload) }
  },
  'insert-bytes': (specimen, layout, random) => {
    const payload = payloadOf(specimen)
    const at = random.pick(sectionBoundaries(layout))
    const inserted = random.bytes(1 + random.int(12))
    return {
      label: `${specimen.label}: ${inserted.length} random bytes at ${at}`,
      frame: frameOf(specimen, rewrite(payload, [{ start: at, end: at, bytes: inserted }])),
    }
  },
  'trailing-bytes': (specimen, _layout, random) => {
    const extra = random.bytes(1 + random.int(8))
    return {
      label: `${specimen.label}: ${extra.length} trailing bytes`,
      frame: frameOf(specimen, concat(payloadOf(specimen), extra)),
    }
  },
  'frame-varint': (specimen, _layout, random, context) => {
    const frame = frameOf(specimen)
    const field = random.pick(walkFrame(frame).varints)
    const value = random.chance(0.5)
      ? random.pick(EXTREME_VALUES)
      : random.pick([...context.interesting, BigInt(random.int(300))])
    return {
      label: `${specimen.label}: frame ${field.role} = ${value}`,
      frame: rewrite(frame, [{ ...field, bytes: encodeVarUint(value) }]),
    }
  },
  'frame-appended': (specimen) => {
    // Two messages in one WebSocket frame: y-websocket sends one per frame; trailing bytes must not slip through.
    const frame = frameOf(specimen)
    return { label: `${specimen.label}: frame twice in one`, frame: concat(frame, frame) }
  },
}

const MUTATOR_NAMES = Object.keys(MUTATORS)

/** One random structure-aware mutation of `specimen`. */
export function randomMutant(specimen: Specimen, random: Random, context: MutationContext): Mutant {
  const layout = layoutOf(specimen)
  let name = random.pick(MUTATOR_NAMES)
  if (layout.varints.length === 0 && name.endsWith('-varint') && name !== 'frame-varint') name = 'flip-byte'
  if (layout.sequences.length === 0 && name.endsWith('-section')) name = 'truncate-payload'
  return MUTATORS[name]!(specimen, layout, random, context)
}

function layoutOf(specimen: Specimen): PayloadLayout {
  if (specimen.kind === 'state-vector')
    return entryLayout(walkStateVector(specimen.stateVector), 'sv-entries')
  if (specimen.kind === 'awareness')
    return entryLayout(walkAwareness(specimen.awareness), 'awareness-entries')
  const walked = walkUpdate(specimen.update)
  const at = (start: number, role: string) =>
    walked.varints.find((field) => field.start >= start && field.role === role)!
  const sequences: Sequence[] = [
    { name: 'runs', count: at(0, 'client-runs'), items: walked.runs },
    ...walked.runs.map((run, i) => ({
      name: `run ${i} structs`,
      count: at(run.start, 'run-structs'),
      items: run.structs,
    })),
    { name: 'ds entries', count: at(walked.deleteSet.start, 'ds-clients'), items: walked.deleteSetEntries },
    ...walked.deleteSetEntries.map((entry, i) => ({
      name: `ds entry ${i} ranges`,
      count: at(entry.start, 'ds-ranges'),
      items: entry.ranges,
    })),
  ]
  return { varints: walked.varints, sequences }
}

function entryLayout(walked: { varints: VarintField[]; entries: Span[] }, name: string): PayloadLayout {
  const count = walked.varints[0]
  return { varints: walked.varints, sequences: count ? [{ name, count, items: walked.entries }] : [] }
}

function setVarint(specimen: Specimen, field: VarintField, value: bigint): Mutant {
  return {
    label: `${specimen.label}: ${field.role}@${field.start} = ${value}`,
    frame: frameOf(specimen, rewrite(payloadOf(specimen), [{ ...field, bytes: encodeVarUint(value) }])),
  }
}

/**
 * Duplicate, drop, swap or reverse sections of one sequence. Half the time the count in front is
 * kept in step (the bytes stay well-formed and reach the write rules); half the time it is not.
 */
function sequenceEdit(
  specimen: Specimen,
  layout: PayloadLayout,
  random: Random,
  operation: 'duplicate' | 'drop' | 'swap' | 'reverse',
): Mutant {
  const sequence = random.pick(layout.sequences)
  const payload = payloadOf(specimen)
  const { items, count } = sequence
  const fixCount = random.chance(0.5)
  const edits: Edit[] = []
  let delta = 0n
  const bytesOf = (span: Span) => payload.slice(span.start, span.end)
  if (items.length === 0) {
    // Nothing to move: claim one more section than there is.
    edits.push({ ...count, bytes: encodeVarUint(count.value + 1n) })
  } else if (operation === 'duplicate') {
    const item = random.pick(items)
    edits.push({ start: item.end, end: item.end, bytes: bytesOf(item) })
    delta = 1n
  } else if (operation === 'drop') {
    const item = random.pick(items)
    edits.push({ ...item, bytes: new Uint8Array() })
    delta = -1n
  } else if (operation === 'swap' && items.length > 1) {
    const [a, b] = random.shuffled(items)
    edits.push({ ...a!, bytes: bytesOf(b!) }, { ...b!, bytes: bytesOf(a!) })
  } else {
    const whole = { start: items[0]!.start, end: items[items.length - 1]!.end }
    const reversed = concat(...[...items].reverse().map(bytesOf))
    edits.push({ ...whole, bytes: reversed })
  }
  if (fixCount && delta !== 0n) edits.push({ ...count, bytes: encodeVarUint(count.value + delta) })
  return {
    label: `${specimen.label}: ${operation} in ${sequence.name}${fixCount && delta !== 0n ? ' (count kept in step)' : ''}`,
    frame: frameOf(specimen, rewrite(payload, edits)),
  }
}

/** Where sections start and end: cut and insert points that fall between fields. */
function sectionBoundaries(layout: PayloadLayout): number[] {
  const points = new Set<number>([0])
  for (const field of layout.varints) points.add(field.start).add(field.end)
  for (const sequence of layout.sequences)
    for (const item of sequence.items) points.add(item.start).add(item.end)
  return [...points].sort((a, b) => a - b)
}

/** Apply non-overlapping edits (a zero-width edit inserts). */
export function rewrite(bytes: Uint8Array, edits: readonly Edit[]): Uint8Array {
  const sorted = [...edits].sort((a, b) => a.start - b.start || a.end - b.end)
  const parts: Uint8Array[] = []
  let at = 0
  for (const edit of sorted) {
    if (edit.start < at) throw new Error('overlapping edits')
    parts.push(bytes.slice(at, edit.start), edit.bytes)
    at = edit.end
  }
  parts.push(bytes.slice(at))
  return concat(...parts)
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

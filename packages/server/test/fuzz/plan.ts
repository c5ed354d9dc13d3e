import { MAX_CLOCK, MAX_CLOCK_ADVANCE } from '@ticks/core'
import * as Y from 'yjs'
import { writeUpdate } from '../../src/sync/protocol.js'
import { awarenessUpdate, craftedSpecimens, garbageFrames, issueFrames } from './crafted.js'
import { type Forge, forbiddenSpecimens, forgeFrom, validSpecimens } from './forge.js'
import { type EntryRef, frameOf, type Mutant, randomMutant, type Specimen, varintSweep } from './mutate.js'
import { forbiddenShapeSpecimens, validShapeSpecimens } from './new-shapes.js'
import type { Random } from './random.js'

/**
 * What mallory sends, round by round: the issue's frames now and then, her valid writes (which must
 * be taken), forbidden writes (which must be refused), crafted huge clocks and lengths, garbage,
 * a flood, and above all structure-aware mutants of all of these — a systematic sweep of every
 * varint of one specimen, or random mutations across a pool of them.
 */
export type Expectation = 'accepted' | 'refused' | 'either'

export interface Planned extends Mutant {
  expect: Expectation
  /** Entries the room must never hold once it refused this frame (sent as made, never mutated). */
  neverApplied?: EntryRef[]
  /** Send the frame this many times without probing, then wait for the close (rate limit). */
  flood?: number
}

export interface PlanContext {
  random: Random
  /** Her replica of what the room showed her (replaced when it had to start over). */
  mirror(): Y.Doc
  /** A Yjs client id neither the room nor this campaign has used. */
  freshClient(): number
  /** alice's and bob's presence ids and the room's own client id. */
  othersAwarenessIds(): bigint[]
}

/** Issue 12's frames go in first and again every this many rounds. */
const ISSUE_FRAMES_EVERY = 40
const RANDOM_MUTANTS_PER_ROUND = 40
/** A socket may send 400 frames at once (the server's default burst): more must get 4429. */
const FLOOD_FRAMES = 500

export function planRound(round: number, context: PlanContext): Planned[] {
  const { random } = context
  if (round % ISSUE_FRAMES_EVERY === 0) return issueFrames().map((m) => ({ ...m, expect: 'refused' }))
  const mirror = context.mirror()
  const forge = forgeFrom(mirror, context.freshClient, `mallory-${random.int(4)}`)
  try {
    const roll = random.next()
    if (roll < 0.15) return framed(allValid(forge, random, round), 'accepted')
    if (roll < 0.25) return framed(allForbidden(forge, random), 'refused')
    if (roll < 0.33) return framed(crafted(context), 'either')
    if (roll < 0.4) {
      return garbageFrames(random, 1024 * 1024).map((m) => ({ ...m, expect: garbageExpectation(m.label) }))
    }
    if (roll < 0.41) {
      const frame = writeUpdate(Uint8Array.of(0, 0))
      return [{ label: 'a flood of empty updates', frame, expect: 'refused', flood: FLOOD_FRAMES }]
    }
    const pool = specimenPool(forge, round, context)
    if (roll < 0.62) return random.shuffled(varintSweep(random.pick(pool))).map(either)
    const mutation = { interesting: interestingValues(context), other: random.pick(pool) }
    return Array.from({ length: RANDOM_MUTANTS_PER_ROUND }, () =>
      either(randomMutant(random.pick(pool), random, mutation)),
    )
  } finally {
    forge.destroy()
  }
}

const framed = (specimens: Specimen[], expect: Expectation): Planned[] =>
  specimens.map((specimen) => ({
    label: specimen.label,
    frame: frameOf(specimen),
    expect,
    ...(specimen.kind === 'update' && specimen.neverApplied && { neverApplied: specimen.neverApplied }),
  }))

/** Her valid writes: the first shapes and those of issues 16 and 17 (batches, signatures, actions). */
const allValid = (forge: Forge, random: Random, round: number): Specimen[] => [
  ...validSpecimens(forge, random, round),
  ...validShapeSpecimens(forge, random, round),
]

/** One forbidden write of the first kinds and one of the new entries (announcements, batches…). */
const allForbidden = (forge: Forge, random: Random): Specimen[] => [
  ...forbiddenSpecimens(forge, random),
  ...forbiddenShapeSpecimens(forge, random),
]

const either = (mutant: Mutant): Planned => ({ ...mutant, expect: 'either' })

function crafted({ random, mirror, freshClient, othersAwarenessIds }: PlanContext): Specimen[] {
  return craftedSpecimens(random, {
    freshClient: () => BigInt(freshClient()),
    knownClients: [...mirror().store.clients.keys()].map(BigInt),
    othersAwarenessIds: othersAwarenessIds(),
  })
}

/** Everything a mutation round may start from. */
function specimenPool(forge: Forge, round: number, context: PlanContext): Specimen[] {
  const { random } = context
  return [
    ...allValid(forge, random, round),
    ...allForbidden(forge, random),
    ...crafted(context),
    { kind: 'state-vector', label: 'her state vector', stateVector: Y.encodeStateVector(context.mirror()) },
    {
      kind: 'awareness',
      label: 'her presence',
      awareness: awarenessUpdate([
        { client: BigInt(context.freshClient()), clock: 1n, state: '{"user":{"name":"m"}}' },
      ]),
    },
  ]
}

/** Besides the extremes: other writers' client ids and the server's bounds with their neighbours. */
function interestingValues({ mirror, othersAwarenessIds }: PlanContext): bigint[] {
  return [
    ...[...mirror().store.clients.keys()].map(BigInt),
    ...othersAwarenessIds(),
    BigInt(MAX_CLOCK) - 1n,
    BigInt(MAX_CLOCK),
    BigInt(MAX_CLOCK) + 1n,
    BigInt(MAX_CLOCK_ADVANCE),
    BigInt(MAX_CLOCK_ADVANCE) + 1n,
  ]
}

/**
 * Random bytes inside a well-formed envelope may well decode (a state vector of small varints, an
 * empty update): those may be taken. Unknown types, empty and oversized frames never.
 */
function garbageExpectation(label: string): Expectation {
  if (label === 'query awareness') return 'accepted'
  return /^(unknown|an empty frame|an update frame past)/.test(label) ? 'refused' : 'either'
}

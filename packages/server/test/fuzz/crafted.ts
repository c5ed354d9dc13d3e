import { MAX_CLOCK, MAX_CLOCK_ADVANCE } from '@ticks/core'
import { writeAwareness, writeSyncStep1, writeUpdate } from '../../src/sync/protocol.js'
import { fromHex, ISSUE_FRAMES, ISSUE_STORED } from '../helpers/issue-12-frames.js'
import type { Mutant, Specimen } from './mutate.js'
import type { Random } from './random.js'
import { EXTREME_VALUES, varString, varUints } from './varuint.js'

/**
 * Inputs built byte by byte, for the shapes that got through in issue 12 and their neighbours:
 * GC and skip structs and deleted items with huge lengths, delete sets over clients nobody has
 * seen, and the issue's own reproductions, verbatim.
 */

/** In every presence state mallory forges for another client id: no honest client may ever show it. */
export const SPOOF_MARKER = 'spoofedBy'

/** Lengths and clocks around the edges that matter: lib0's, JS numbers', and the server's own bounds. */
export const HUGE_VALUES: readonly bigint[] = [
  ...EXTREME_VALUES.filter((value) => value > 1n),
  BigInt(MAX_CLOCK_ADVANCE),
  BigInt(MAX_CLOCK_ADVANCE) + 1n,
  BigInt(MAX_CLOCK),
  BigInt(MAX_CLOCK) + 1n,
  2n ** 56n - 2n ** 54n,
]

/** The issue's reproductions, as frames: each must be refused. */
export function issueFrames(): Mutant[] {
  return [
    ...Object.entries(ISSUE_FRAMES).map(([name, hex]) => ({
      label: `issue 12 ${name}`,
      frame: fromHex(hex),
    })),
    ...ISSUE_STORED.map((hex, i) => ({
      label: `issue 12 stored entry ${i + 1}`,
      frame: writeUpdate(fromHex(hex)),
    })),
  ]
}

/** GC or skip structs of the given lengths under one client, starting at `clock`; no delete set. */
export function emptyStructsUpdate(
  kind: 'gc' | 'skip',
  client: bigint,
  clock: bigint,
  lengths: bigint[],
): Uint8Array {
  const info = kind === 'gc' ? 0 : 10
  const structs = lengths.flatMap((length) => [info, ...varUints(length)])
  return Uint8Array.from([...varUints(1, lengths.length, client, clock), ...structs, ...varUints(0)])
}

/** Map entries of `root`, each an item whose content is deleted with the given length (ContentDeleted). */
export function deletedEntriesUpdate(
  client: bigint,
  clock: bigint,
  root: string,
  entries: { key: string; length: bigint }[],
): Uint8Array {
  // Info 0x21: a parentSub (map key) follows, content ref 1 (ContentDeleted); parent info 1: a root's name.
  const structs = entries.flatMap(({ key, length }) => [
    0x21,
    ...varUints(1),
    ...varString(root),
    ...varString(key),
    ...varUints(length),
  ])
  return Uint8Array.from([...varUints(1, entries.length, client, clock), ...structs, ...varUints(0)])
}

/** No structs, only a delete set. */
export function deleteSetUpdate(
  entries: { client: bigint; ranges: [clock: bigint, length: bigint][] }[],
): Uint8Array {
  const body = entries.flatMap(({ client, ranges }) => [
    ...varUints(client, ranges.length),
    ...ranges.flatMap(([clock, length]) => varUints(clock, length)),
  ])
  return Uint8Array.from([...varUints(0, entries.length), ...body])
}

/** A state vector claiming `clock` for each client. */
export function stateVector(entries: [client: bigint, clock: bigint][]): Uint8Array {
  return Uint8Array.from([
    ...varUints(entries.length),
    ...entries.flatMap(([client, clock]) => varUints(client, clock)),
  ])
}

/** An awareness update; `state` is sent as given (it need not be JSON). */
export function awarenessUpdate(entries: { client: bigint; clock: bigint; state: string }[]): Uint8Array {
  return Uint8Array.from([
    ...varUints(entries.length),
    ...entries.flatMap(({ client, clock, state }) => [...varUints(client, clock), ...varString(state)]),
  ])
}

export interface CraftContext {
  /** Client ids the room has never seen: fresh ones each call. */
  freshClient(): bigint
  /** Clients the document holds (alice's, bob's, the room's, mallory's), for deletions and spoofing. */
  knownClients: readonly bigint[]
  /** alice's and bob's awareness ids and the room's own client id: nobody else may speak for them. */
  othersAwarenessIds: readonly bigint[]
}

/**
 * One batch of crafted hostile specimens (framed by the caller's mutators too). Each names what
 * it tries, so a finding reads as a sentence.
 */
export function craftedSpecimens(random: Random, context: CraftContext): Specimen[] {
  const huge = () => random.pick(HUGE_VALUES)
  const anyClock = () => (random.chance(0.5) ? 0n : huge())
  const specimens: Specimen[] = []
  const update = (label: string, bytes: Uint8Array): void => {
    specimens.push({
      kind: 'update',
      label,
      step: random.chance(0.8) ? 'update' : 'sync-step-2',
      update: bytes,
    })
  }
  const kind = random.pick(['gc', 'skip'] as const)
  const lengths = Array.from({ length: 1 + random.int(3) }, huge)
  update(
    `${kind} structs of ${lengths.join(', ')} under a fresh client`,
    emptyStructsUpdate(kind, context.freshClient(), anyClock(), lengths),
  )
  update(
    'a gc struct under a client the room holds',
    emptyStructsUpdate('gc', random.pick(context.knownClients), huge(), [1n + BigInt(random.int(4))]),
  )
  const deletedLengths = [huge(), random.chance(0.5) ? 8n : huge()]
  update(
    `deleted entries of lengths ${deletedLengths.join(', ')} in her own root`,
    deletedEntriesUpdate(
      context.freshClient(),
      anyClock(),
      'u:mallory',
      deletedLengths.map((length, i) => ({ key: `m|d${i}${length}`, length })),
    ),
  )
  update(
    'a deleted entry in u:alice',
    deletedEntriesUpdate(context.freshClient(), 0n, 'u:alice', [{ key: 'm|forged', length: 1n }]),
  )
  update(
    'deletions of clients the room has never seen',
    deleteSetUpdate(
      Array.from({ length: 1 + random.int(3) }, () => ({
        client: context.freshClient(),
        ranges: [[anyClock(), huge()]] as [bigint, bigint][],
      })),
    ),
  )
  update(
    'deletions over the clients the room holds',
    deleteSetUpdate([{ client: random.pick(context.knownClients), ranges: [[0n, huge()]] }]),
  )
  update(
    'deleted ranges out of order and overlapping',
    deleteSetUpdate([
      {
        client: random.pick(context.knownClients),
        ranges: [
          [5n, 3n],
          [0n, 10n],
          [huge(), 1n],
          [2n, 1n],
        ],
      },
    ]),
  )
  specimens.push({
    kind: 'state-vector',
    label: 'a state vector far ahead of the room',
    stateVector: stateVector([
      [random.pick(context.knownClients), huge()],
      [context.freshClient(), huge()],
    ]),
  })
  const marker = JSON.stringify({ [SPOOF_MARKER]: 'mallory', user: { name: 'alice' } })
  specimens.push({
    kind: 'awareness',
    label: "awareness speaking for alice's, bob's or the room's client id",
    awareness: awarenessUpdate([
      { client: random.pick(context.othersAwarenessIds), clock: BigInt(1 + random.int(1000)), state: marker },
    ]),
  })
  specimens.push({
    kind: 'awareness',
    label: 'awareness announcing many presence ids',
    // Around the server's bound of 16 ids a socket may announce, and far past it.
    awareness: awarenessUpdate(
      Array.from({ length: random.pick([1, 8, 9, 15, 16, 17, 40]) }, () => ({
        client: context.freshClient(),
        clock: 1n,
        state: '{}',
      })),
    ),
  })
  specimens.push({
    kind: 'awareness',
    label: 'awareness with a state that is not JSON',
    awareness: awarenessUpdate([
      { client: context.freshClient(), clock: 1n, state: random.pick(['{', '', '\u0000', 'undefined']) },
    ]),
  })
  return specimens
}

/** Frames that are not y-websocket at all, or use message types nobody defined. */
export function garbageFrames(random: Random, maxFrameBytes: number): Mutant[] {
  const unknownType = random.pick([2n, 4n, 5n, 127n, 128n, 255n, ...EXTREME_VALUES.slice(2)])
  const frames: Mutant[] = [
    { label: 'random bytes', frame: random.bytes(random.int(64)) },
    { label: 'more random bytes', frame: random.bytes(64 + random.int(4096)) },
    { label: 'an empty frame', frame: new Uint8Array() },
    {
      label: `unknown message type ${unknownType}`,
      frame: Uint8Array.from([...varUints(unknownType), ...random.bytes(random.int(16))]),
    },
    {
      label: 'unknown sync message type',
      frame: Uint8Array.from([...varUints(0, 3 + random.int(250)), ...varUints(2), 0, 0]),
    },
    { label: 'query awareness', frame: Uint8Array.from(varUints(3)) },
    { label: 'awareness garbage', frame: writeAwareness(random.bytes(1 + random.int(64))) },
    { label: 'sync step 1 garbage', frame: writeSyncStep1(random.bytes(1 + random.int(64))) },
    { label: 'update garbage', frame: writeUpdate(random.bytes(1 + random.int(64))) },
  ]
  if (random.chance(0.1)) {
    // Just past the live frame limit: 4413, never evaluated.
    frames.push({
      label: 'an update frame past the size limit',
      frame: writeUpdate(new Uint8Array(maxFrameBytes + 1)),
    })
  }
  return frames
}

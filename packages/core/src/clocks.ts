import * as Y from 'yjs'

/**
 * The clocks a Ticks document may hold (issue 12). Yjs keeps clocks in JS numbers, and lib0 reads
 * back no varint past 2^53 although it writes them: one struct or deleted range ending past that
 * makes a document whose state vector no stock client can decode, and near it Yjs's own arithmetic
 * loses precision and throws mid-transaction. Every struct and every deleted range must end at or
 * below MAX_CLOCK, far inside 2^53: a replica writing a million entries a second would need twelve
 * days to reach it.
 */
export const MAX_CLOCK = 2 ** 40

/**
 * Most clocks one update may add to one client. A Ticks entry costs one clock, so this is 16
 * million writes made offline by one replica; deleted and garbage-collected runs cost clocks but
 * no bytes, and without this bound one frame could spend the whole clock space.
 */
export const MAX_CLOCK_ADVANCE = 2 ** 24

type Struct = Y.Item | Y.GC | Y.Skip
type DeleteSet = ReturnType<typeof Y.createDeleteSet>

/** Why decoded structs or deletions would leave clocks Yjs cannot hold (or are empty), or undefined. */
export function clockProblem(structs: readonly Struct[], ds: DeleteSet): string | undefined {
  for (const struct of structs) {
    const { client, clock } = struct.id
    if (!isClientId(client)) return `client id ${client} is out of range`
    if (struct.length < 1) return `a struct of client ${client} is empty`
    if (!isClockRange(clock, struct.length))
      return `a struct of client ${client} ends past clock ${MAX_CLOCK}`
  }
  for (const [client, ranges] of ds.clients) {
    if (!isClientId(client)) return `client id ${client} is out of range`
    for (const { clock, len } of ranges) {
      // Yjs writes none, and one at or past the client's clock throws inside Yjs mid-apply.
      if (len < 1) return `a deletion of client ${client} is empty`
      if (!isClockRange(clock, len)) return `a deletion of client ${client} ends past clock ${MAX_CLOCK}`
    }
  }
  return undefined
}

/**
 * Why an update could not be stored by a replica without breaking it, or undefined: it must
 * decode, and its clocks must stay within MAX_CLOCK. Structural only (no write rules): the client
 * runs it on what a server sends, the server on what it loads from its store.
 */
export function updateProblem(update: Uint8Array): string | undefined {
  let decoded: { structs: Struct[]; ds: DeleteSet }
  try {
    decoded = Y.decodeUpdate(update) as { structs: Struct[]; ds: DeleteSet }
  } catch {
    return 'the update does not decode'
  }
  return clockProblem(decoded.structs, decoded.ds)
}

/** Why a state vector (a sync step 1) is unusable, or undefined. */
export function stateVectorProblem(stateVector: Uint8Array): string | undefined {
  let clocks: Map<number, number>
  try {
    clocks = Y.decodeStateVector(stateVector)
  } catch {
    return 'the state vector does not decode'
  }
  for (const [client, clock] of clocks) {
    if (!isClientId(client)) return `client id ${client} is out of range`
    if (!isClockRange(clock, 0)) return `the state vector puts client ${client} past clock ${MAX_CLOCK}`
  }
  return undefined
}

/**
 * Why a document could not be encoded, sent and loaded by every stock client, or undefined: every
 * client's clock within MAX_CLOCK, and no structs or deletions left pending on clocks it lacks.
 */
export function documentProblem(doc: Y.Doc): string | undefined {
  for (const [client, structs] of doc.store.clients) {
    const last = structs[structs.length - 1]
    if (last && !isClockRange(last.id.clock, last.length)) {
      return `client ${client} holds clocks past ${MAX_CLOCK}`
    }
  }
  if (doc.store.pendingStructs) return 'structs are left pending on clocks the document lacks'
  return undefined
}

/**
 * Yjs draws client ids from 32 bits; any id lib0 reads back (a safe integer) is taken, but one past
 * 2^53 is written as a varint lib0 refuses to read, like a clock.
 */
export const isClientId = (client: number): boolean => Number.isSafeInteger(client) && client >= 0

const isClockRange = (clock: number, length: number): boolean =>
  Number.isSafeInteger(clock) &&
  Number.isSafeInteger(length) &&
  clock >= 0 &&
  length >= 0 &&
  clock + length <= MAX_CLOCK

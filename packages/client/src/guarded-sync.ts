import { stateVectorProblem, updateProblem } from '@ticks/core'
import * as decoding from 'lib0/decoding'
import * as syncProtocol from 'y-protocols/sync'
import { messageAwareness, messageSync, type WebsocketProvider } from 'y-websocket'

/** Who sent a frame: y-websocket reads the socket and the other tabs through the same handlers. */
export type FrameSource = 'server' | 'another tab'

/**
 * Put a check in front of what this provider applies (issue 12). y-websocket hands every sync
 * frame straight to Yjs, and y-indexeddb then stores whatever the document integrated; Yjs has no
 * rollback. One update with a clock past 2^53 from a hostile server or relay (or a tab holding such
 * a copy) would leave a document whose state vector no client can read back, in memory and on
 * disk, for good. So a sync frame is checked whole before anything of it is applied, and one this
 * replica cannot store goes to `refuse` instead, unapplied.
 *
 * An awareness frame that does not decode is dropped: presence is not stored, but y-protocols would
 * throw inside the provider's message handler (JSON.parse, a truncated varint) after applying the
 * entries before it.
 */
export function guardIncomingFrames(
  provider: WebsocketProvider,
  refuse: (source: FrameSource, problem: string) => void,
): void {
  // Per instance since y-websocket 3: replacing them here leaves every other provider alone.
  const handlers = provider.messageHandlers
  const applySync = handlers[messageSync]!
  const applyAwareness = handlers[messageAwareness]!
  // y-websocket reads socket frames with `emitSynced` true and other tabs' frames with it false.
  handlers[messageSync] = (encoder, decoder, target, fromSocket, messageType) => {
    const problem = syncMessageProblem(decoding.clone(decoder))
    if (problem === undefined) applySync(encoder, decoder, target, fromSocket, messageType)
    else refuse(fromSocket ? 'server' : 'another tab', problem)
  }
  handlers[messageAwareness] = (encoder, decoder, target, fromSocket, messageType) => {
    if (awarenessProblem(decoding.clone(decoder)) === undefined) {
      applyAwareness(encoder, decoder, target, fromSocket, messageType)
    }
  }
}

/**
 * Why a y-protocols sync message (its type, then one payload) cannot be applied to a replica
 * without breaking it, or undefined. Said as what was sent, e.g. "an update this replica cannot
 * store: …", so that a reason reads "the server sent " + this.
 */
export function syncMessageProblem(decoder: decoding.Decoder): string | undefined {
  let type: number
  let payload: Uint8Array
  try {
    type = decoding.readVarUint(decoder)
    payload = decoding.readVarUint8Array(decoder)
  } catch {
    return 'a sync message that does not decode'
  }
  switch (type) {
    case syncProtocol.messageYjsSyncStep1: {
      // Answering it means encoding a diff against it, which throws on one that does not decode.
      const problem = stateVectorProblem(payload)
      return problem && `a state vector this replica cannot read: ${problem}`
    }
    case syncProtocol.messageYjsSyncStep2:
    case syncProtocol.messageYjsUpdate: {
      const problem = updateProblem(payload)
      return problem && `an update this replica cannot store: ${problem}`
    }
    default:
      return `a sync message of unknown type ${type}`
  }
}

/**
 * Why a y-protocols awareness message (one payload: a count, then client id, clock and JSON state
 * for each) would throw when applied, or undefined.
 */
export function awarenessProblem(decoder: decoding.Decoder): string | undefined {
  try {
    const entries = decoding.createDecoder(decoding.readVarUint8Array(decoder))
    const count = decoding.readVarUint(entries)
    for (let i = 0; i < count; i++) {
      decoding.readVarUint(entries) // client id
      decoding.readVarUint(entries) // clock
      JSON.parse(decoding.readVarString(entries))
    }
    return undefined
  } catch {
    return 'an awareness update that does not decode'
  }
}

import { documentProblem, stateVectorProblem } from '@ticks/core'
import * as decoding from 'lib0/decoding'
import { WebSocket } from 'ws'
import * as Y from 'yjs'
import {
  type AwarenessEntry,
  readAwarenessEntries,
  writeSyncStep1,
  writeSyncStep2,
} from '../../src/sync/protocol.js'

/**
 * One raw WebSocket of mallory's. It opens like an honest replica (answers the room's sync step 1
 * with what the room lacks, asks for what she lacks, applies the reply to her mirror) and then
 * sends whatever the driver hands it. After each hostile frame the driver probes with a sync step 1:
 * frames are handled in order, so the reply proves the frame was taken, and a close proves it
 * was refused. Everything the room sends her is checked on the way in, like a stock client would
 * (by failing) — a room that sends what no replica can hold is the issue-12 failure.
 */
export type LinkOutcome =
  | { kind: 'answered' }
  | { kind: 'closed'; code: number; reason: string }
  | { kind: 'hung' }

export interface MalloryLink {
  send(frame: Uint8Array): void
  /** Probe, then wait for `replies` sync step 2s (the probe's and any the frame asked for) or the close. */
  probe(replies: number, timeoutMs: number): Promise<LinkOutcome>
  /** Send `frames` back to back without probing, and wait for the close (a flood). */
  flood(frames: Uint8Array[], timeoutMs: number): Promise<LinkOutcome>
  readonly closed: { code: number; reason: string } | null
  terminate(): void
}

export interface LinkHooks {
  /** The room sent something a replica cannot hold or decode. */
  anomaly(what: string): void
  /** Presence the room relayed to her. */
  awareness(entries: AwarenessEntry[]): void
}

const SYNC = 0
const AWARENESS = 1
const STEP_1 = 0
const STEP_2 = 1
const UPDATE = 2

export async function openLink(
  url: string,
  mirror: Y.Doc,
  hooks: LinkHooks,
  timeoutMs: number,
): Promise<MalloryLink | LinkOutcome> {
  const socket = new WebSocket(url)
  socket.binaryType = 'nodebuffer'
  let closed: { code: number; reason: string } | null = null
  let stepTwos = 0
  let opened = false
  const wakers = new Set<() => void>()
  const wake = () => {
    for (const waker of wakers) waker()
  }
  socket.on('error', () => {})
  socket.on('close', (code, reason) => {
    closed = { code, reason: reason.toString() }
    wake()
  })

  const applyFromRoom = (update: Uint8Array, what: string) => {
    try {
      Y.applyUpdate(mirror, update, 'room')
    } catch (error) {
      hooks.anomaly(`the room sent a ${what} that a replica cannot apply: ${(error as Error).message}`)
    }
  }
  socket.on('message', (data: Buffer) => {
    const frame = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    try {
      const decoder = decoding.createDecoder(frame)
      const type = decoding.readVarUint(decoder)
      if (type === AWARENESS) {
        hooks.awareness(readAwarenessEntries(decoding.readVarUint8Array(decoder)))
        return
      }
      if (type !== SYNC) return hooks.anomaly(`the room sent message type ${type}`)
      const step = decoding.readVarUint(decoder)
      const payload = decoding.readVarUint8Array(decoder)
      if (step === STEP_1) {
        const problem = stateVectorProblem(payload)
        if (problem) hooks.anomaly(`the room's state vector is unusable: ${problem}`)
        else if (!opened) {
          // An honest replica's answer: what the room lacks of hers (nothing, normally), then her ask.
          opened = true
          socket.send(writeSyncStep2(Y.encodeStateAsUpdate(mirror, payload)))
          socket.send(writeSyncStep1(Y.encodeStateVector(mirror)))
        }
        wake()
        return
      }
      if (step === STEP_2 || step === UPDATE) {
        applyFromRoom(payload, step === STEP_2 ? 'sync step 2' : 'update')
        if (step === STEP_2) {
          stepTwos++
          wake()
        }
        return
      }
      hooks.anomaly(`the room sent sync message type ${step}`)
    } catch (error) {
      hooks.anomaly(`the room sent a frame that does not decode: ${(error as Error).message}`)
    }
  })

  const waitFor = (done: () => boolean, ms: number): Promise<boolean> =>
    new Promise((resolve) => {
      const check = () => {
        if (!done() && closed === null) return
        finish(true)
      }
      const finish = (settled: boolean) => {
        clearTimeout(timer)
        wakers.delete(check)
        resolve(settled)
      }
      const timer = setTimeout(() => finish(false), ms)
      wakers.add(check)
      check()
    })
  const outcome = (answered: boolean): LinkOutcome =>
    closed ? { kind: 'closed', ...closed } : answered ? { kind: 'answered' } : { kind: 'hung' }

  // Open: the room's sync step 1 comes first; then her honest exchange, done when its reply is in.
  const ready = await waitFor(() => stepTwos > 0, timeoutMs)
  if (!ready || closed) {
    socket.terminate()
    return outcome(false)
  }
  const mirrorProblem = documentProblem(mirror)
  if (mirrorProblem) hooks.anomaly(`after an honest sync her replica is unusable: ${mirrorProblem}`)

  const link: MalloryLink = {
    get closed() {
      return closed
    },
    send(frame) {
      if (socket.readyState === WebSocket.OPEN) socket.send(frame)
    },
    async probe(replies, timeoutMs) {
      const target = stepTwos + replies
      link.send(writeSyncStep1(Y.encodeStateVector(mirror)))
      const answered = await waitFor(() => stepTwos >= target, timeoutMs)
      return outcome(answered && closed === null)
    },
    async flood(frames, timeoutMs) {
      for (const frame of frames) link.send(frame)
      await waitFor(() => false, timeoutMs)
      return outcome(false)
    },
    terminate() {
      socket.terminate()
    },
  }
  return link
}

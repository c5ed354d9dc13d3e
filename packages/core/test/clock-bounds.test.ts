import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { beforeEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import {
  applyCheckedUpdate,
  checkUpdate,
  documentProblem,
  initConversation,
  MAX_CLOCK,
  MAX_CLOCK_ADVANCE,
  type Role,
  stateVectorProblem,
  updateProblem,
  type Writer,
} from '../src/index.js'

const MEMBERS: Record<string, Role> = { alice: 'owner', mallory: 'member' }
const mallory: Writer = { userId: 'mallory', role: 'member' }

let server: Y.Doc

beforeEach(() => {
  server = new Y.Doc({ guid: 'c' })
  initConversation(server, { title: 'bounds', members: MEMBERS })
})

const fromHex = (hex: string) => Uint8Array.from(hex.match(/../g)!.map((byte) => Number.parseInt(byte, 16)))

/** The update inside a y-websocket sync frame (type, sub-type, length-prefixed payload). */
function payloadOf(frameHex: string): Uint8Array {
  const decoder = decoding.createDecoder(fromHex(frameHex))
  decoding.readVarUint(decoder)
  decoding.readVarUint(decoder)
  return decoding.readVarUint8Array(decoder)
}

/** Issue 12's reproductions: frames sent by `mallory`, and updates a fuzz run left in the store. */
const ISSUE_FRAMES = {
  wedgesTheRoom:
    '0002410102a9b62f00210109753a6d616c6c6f7279046d7c6430ffffffffffffff0f210109753a6d616c6c6f7279136d7c64393030373139393235343734303939310800',
  breaksStockClients: '00021b0102b1d1f9d6030000808080808080806000808080808080806000',
}
const ISSUE_STORED = [
  '0102bd8e83570000808080ebeff8eb6f0080808080802000',
  '0101bd8e8357808080ebef98ec6f210109753a6d616c6c6f72790e6d7c64656c343978383634376631808080800800',
]

type RawStruct =
  | { gc: number }
  | { skip: number }
  | { deleted: number; key: string; root?: string }
  | { any: unknown; key: string; root?: string; rightOrigin?: [number, number]; origin?: [number, number] }

/**
 * Hand-encode a v1 update, clocks and lengths as given: Yjs's own encoder would never write most
 * of these, which is the point.
 */
function rawUpdate(
  runs: { client: number; clock: number; structs: RawStruct[] }[],
  deletions: { client: number; ranges: [number, number][] }[] = [],
): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, runs.length)
  for (const { client, clock, structs } of runs) {
    encoding.writeVarUint(encoder, structs.length)
    encoding.writeVarUint(encoder, client)
    encoding.writeVarUint(encoder, clock)
    for (const struct of structs) {
      if ('gc' in struct || 'skip' in struct) {
        encoding.writeUint8(encoder, 'gc' in struct ? 0 : 10)
        encoding.writeVarUint(encoder, 'gc' in struct ? struct.gc : struct.skip)
        continue
      }
      const rightOrigin = 'rightOrigin' in struct ? struct.rightOrigin : undefined
      const origin = 'origin' in struct ? struct.origin : undefined
      const ref = 'deleted' in struct ? 1 : 8
      encoding.writeUint8(encoder, ref | (origin ? 0x80 : 0) | (rightOrigin ? 0x40 : origin ? 0 : 0x20))
      if (origin) {
        encoding.writeVarUint(encoder, origin[0])
        encoding.writeVarUint(encoder, origin[1])
      }
      if (rightOrigin) {
        encoding.writeVarUint(encoder, rightOrigin[0])
        encoding.writeVarUint(encoder, rightOrigin[1])
      }
      if (!origin && !rightOrigin) {
        encoding.writeVarUint(encoder, 1)
        encoding.writeVarString(encoder, struct.root ?? 'u:mallory')
        encoding.writeVarString(encoder, struct.key)
      }
      if ('deleted' in struct) {
        encoding.writeVarUint(encoder, struct.deleted)
      } else {
        encoding.writeVarUint(encoder, 1)
        encoding.writeAny(encoder, struct.any as never)
      }
    }
  }
  encoding.writeVarUint(encoder, deletions.length)
  for (const { client, ranges } of deletions) {
    encoding.writeVarUint(encoder, client)
    encoding.writeVarUint(encoder, ranges.length)
    for (const [clock, len] of ranges) {
      encoding.writeVarUint(encoder, clock)
      encoding.writeVarUint(encoder, len)
    }
  }
  return encoding.toUint8Array(encoder)
}

const FRESH = 424242
const refusedAsMalformed = { ok: false, code: 'malformed', closeCode: 4400 }

describe('clock bounds in the write rules (issue 12)', () => {
  it("refuses the issue's frames and stored updates, and applies nothing", () => {
    const before = Y.encodeStateVector(server)
    for (const hex of Object.values(ISSUE_FRAMES)) {
      expect(checkUpdate(server, payloadOf(hex), mallory)).toMatchObject(refusedAsMalformed)
    }
    for (const hex of ISSUE_STORED) {
      expect(checkUpdate(server, fromHex(hex), mallory)).toMatchObject({ ok: false, closeCode: 4400 })
      expect(updateProblem(fromHex(hex))).toBeDefined()
    }
    expect(Y.encodeStateVector(server)).toEqual(before)
  })

  it('refuses a deleted entry in one’s own root that ends past the bound, and takes a small one', () => {
    const huge = rawUpdate([{ client: FRESH, clock: 0, structs: [{ deleted: 2 ** 53 - 1, key: 'm|a' }] }])
    expect(checkUpdate(server, huge, mallory)).toMatchObject(refusedAsMalformed)
    const past = rawUpdate([{ client: FRESH, clock: MAX_CLOCK - 1, structs: [{ deleted: 2, key: 'm|a' }] }])
    expect(checkUpdate(server, past, mallory)).toMatchObject(refusedAsMalformed)
    const discarded = rawUpdate([{ client: FRESH, clock: 0, structs: [{ deleted: 3, key: 'm|a' }] }])
    expect(checkUpdate(server, discarded, mallory)).toMatchObject({ ok: true, newStructs: 1 })
  })

  it('checks garbage-collected runs like items: bounded, and at most MAX_CLOCK_ADVANCE per update', () => {
    const wide = rawUpdate([{ client: FRESH, clock: 0, structs: [{ gc: 2 ** 56 - 2 ** 54 }] }])
    expect(checkUpdate(server, wide, mallory)).toMatchObject(refusedAsMalformed)
    const tooFar = rawUpdate([{ client: FRESH, clock: 0, structs: [{ gc: MAX_CLOCK_ADVANCE }, { gc: 1 }] }])
    expect(checkUpdate(server, tooFar, mallory)).toMatchObject(refusedAsMalformed)
    const justRight = rawUpdate([{ client: FRESH, clock: 0, structs: [{ gc: MAX_CLOCK_ADVANCE }] }])
    expect(checkUpdate(server, justRight, mallory)).toMatchObject({ ok: true, newStructs: 1 })
    applyCheckedUpdate(server, justRight)
    expect(documentProblem(server)).toBeUndefined()
    // Structs the document holds are re-sends: they add no clocks, wherever the run starts.
    const again = rawUpdate([{ client: FRESH, clock: 0, structs: [{ gc: MAX_CLOCK_ADVANCE }, { gc: 1 }] }])
    expect(checkUpdate(server, again, mallory)).toMatchObject({ ok: true, newStructs: 1 })
  })

  it('never lets a skip past the bound through, even as an incomplete update', () => {
    const skip = rawUpdate([{ client: FRESH, clock: 0, structs: [{ skip: 2 ** 60 }, { gc: 1 }] }])
    expect(checkUpdate(server, skip, mallory)).toMatchObject(refusedAsMalformed)
    const gap = rawUpdate([{ client: FRESH, clock: 0, structs: [{ skip: 5 }, { gc: 1 }] }])
    expect(checkUpdate(server, gap, mallory)).toMatchObject({ ok: true, incomplete: true })
  })

  it('refuses deletions past the bound, of known and unknown clients alike, and ignores small unknown ones', () => {
    const known = server.store.clients.keys().next().value!
    for (const client of [known, FRESH]) {
      const update = rawUpdate([], [{ client, ranges: [[0, 2 ** 53 - 1]] }])
      expect(checkUpdate(server, update, mallory)).toMatchObject(refusedAsMalformed)
    }
    const unknown = rawUpdate([], [{ client: FRESH, ranges: [[0, 8]] }])
    expect(checkUpdate(server, unknown, mallory)).toMatchObject({ ok: true, unknownDeletions: 8 })
    applyCheckedUpdate(server, unknown)
    expect(server.store.pendingDs).toBeNull()
  })

  it('refuses empty deleted ranges and empty structs (Yjs throws mid-apply on one at the clock; fuzz finding)', () => {
    const own = rawUpdate([{ client: FRESH, clock: 0, structs: [{ any: { d: 0, r: 0 }, key: 'r|x' }] }])
    applyCheckedUpdate(server, own)
    const empty = rawUpdate(
      [],
      [
        {
          client: FRESH,
          ranges: [
            [0, 1],
            [1, 0],
          ],
        },
      ],
    )
    expect(checkUpdate(server, empty, mallory)).toMatchObject({
      ok: false,
      code: 'malformed',
      reason: expect.stringMatching(/empty/),
    })
    const emptyGc = rawUpdate([{ client: FRESH + 1, clock: 0, structs: [{ gc: 0 }] }])
    expect(checkUpdate(server, emptyGc, mallory)).toMatchObject({ ok: false, code: 'malformed' })
  })

  it('refuses a re-sent item that names a neighbour nobody has: Yjs would hold even a known item pending (fuzz finding)', () => {
    const own = rawUpdate([{ client: FRESH, clock: 0, structs: [{ any: { d: 0, r: 0 }, key: 'r|x' }] }])
    applyCheckedUpdate(server, own)
    for (const origin of [
      [FRESH + 1, 2 ** 31],
      [2 ** 53, 0],
    ] as [number, number][]) {
      const resent = rawUpdate([
        { client: FRESH, clock: 0, structs: [{ any: { d: 0, r: 0 }, key: 'r|x', origin }] },
      ])
      expect(checkUpdate(server, resent, mallory)).toMatchObject({ ok: false, closeCode: 4400 })
    }
    expect(server.store.pendingStructs).toBeNull()
  })

  it('refuses an item whose right neighbour the document lacks (it would wait, pending, forever)', () => {
    const update = rawUpdate([
      {
        client: FRESH,
        clock: 0,
        structs: [{ any: { d: 0, r: 0 }, key: 'r|x', rightOrigin: [FRESH + 1, 7] }],
      },
    ])
    expect(checkUpdate(server, update, mallory)).toMatchObject({ ok: false, code: 'unresolvable' })
  })

  it('refuses values JSON cannot carry', () => {
    const bad: unknown[] = [
      { id: 'a', text: 'x', createdAt: 1, to: [], extra: undefined },
      { id: 'a', text: 'x', createdAt: 1, to: [], extra: 2n ** 70n },
      { id: 'a', text: 'x', createdAt: 1, to: [], extra: new Uint8Array(3) },
      { id: 'a', text: 'x', createdAt: 1, to: [], extra: Number.NaN },
      { id: 'a', text: 'x', createdAt: 1, to: [], extra: JSON.parse('['.repeat(40) + ']'.repeat(40)) },
    ]
    for (const value of bad) {
      const update = rawUpdate([{ client: FRESH, clock: 0, structs: [{ any: value, key: 'm|a' }] }])
      expect(checkUpdate(server, update, mallory)).toMatchObject({ ok: false, code: 'bad-shape' })
    }
    const fine = rawUpdate([
      {
        client: FRESH,
        clock: 0,
        structs: [{ any: { id: 'a', text: 'x', createdAt: 1, to: [] }, key: 'm|a' }],
      },
    ])
    expect(checkUpdate(server, fine, mallory)).toMatchObject({ ok: true })
  })
})

describe('structural checks for what arrives from elsewhere', () => {
  it('updateProblem: garbage and clocks past the bound are problems, a real update is not', () => {
    const doc = new Y.Doc()
    doc.getMap('m').set('k', 1)
    expect(updateProblem(Y.encodeStateAsUpdate(doc))).toBeUndefined()
    expect(updateProblem(new Uint8Array([1, 2, 3]))).toBe('the update does not decode')
    expect(updateProblem(payloadOf(ISSUE_FRAMES.breaksStockClients))).toMatch(/past clock/)
  })

  it('stateVectorProblem: a clock past the bound, or bytes that are no state vector', () => {
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, 1)
    encoding.writeVarUint(encoder, FRESH)
    encoding.writeVarUint(encoder, 2 ** 50)
    expect(stateVectorProblem(encoding.toUint8Array(encoder))).toMatch(/past clock/)
    expect(stateVectorProblem(new Uint8Array([5]))).toBe('the state vector does not decode')
    expect(stateVectorProblem(Y.encodeStateVector(server))).toBeUndefined()
  })

  it('documentProblem: clocks past the bound, and structs left pending', () => {
    expect(documentProblem(server)).toBeUndefined()
    const wide = new Y.Doc()
    Y.applyUpdate(wide, payloadOf(ISSUE_FRAMES.breaksStockClients))
    expect(documentProblem(wide)).toMatch(/past/)
    const pending = new Y.Doc()
    Y.applyUpdate(pending, rawUpdate([{ client: FRESH, clock: 3, structs: [{ gc: 1 }] }]))
    expect(documentProblem(pending)).toMatch(/pending/)
  })
})

import * as decoding from 'lib0/decoding'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { fromHex, ISSUE_FRAMES, ISSUE_STORED } from '../helpers/issue-12-frames.js'
import { payloadOf, randomMutant, type Specimen, varintSweep } from './mutate.js'
import { createRandom } from './random.js'
import { walkUpdate } from './update-walker.js'
import { EXTREME_VALUES, encodeVarUint, readVarUintAt } from './varuint.js'
import { walkFrame } from './wire-walker.js'

/** The fuzzer's own footing: if the walker misreads an update, every mutant it makes is noise. */

/** Updates of every content kind Yjs writes, deletions and garbage-collected runs included. */
function yjsUpdates(): Uint8Array[] {
  const doc = new Y.Doc()
  const updates: Uint8Array[] = []
  doc.on('update', (update: Uint8Array) => updates.push(update))
  const map = doc.getMap('u:alice')
  map.set('m|1', { id: '1', text: 'hi', createdAt: 1, to: ['bob'], big: 2 ** 40, neg: -5, f: 1.5, n: null })
  map.set('m|1', { id: '1', text: 'overwritten' })
  map.set('bin', new Uint8Array([1, 2, 3]))
  map.set('nested', new Y.Map([['k', 'v']]))
  const text = doc.getText('t')
  text.insert(0, 'hello world')
  text.format(0, 5, { bold: true })
  text.insertEmbed(3, { image: 'x' })
  text.delete(2, 4)
  const array = doc.getArray('a')
  array.insert(0, [1, 'two', { three: 3 }, [4]])
  array.delete(1, 2)
  const xml = doc.getXmlFragment('x')
  xml.insert(0, [new Y.XmlElement('p'), new Y.XmlText('t')])
  doc.getMap('docs').set('sub', new Y.Doc({ guid: 'sub' }))
  map.delete('nested')
  // A merge of updates with a gap between them holds a skip struct; the whole state holds GC runs.
  return [...updates, Y.encodeStateAsUpdate(doc), Y.mergeUpdates([updates[0]!, updates[3]!])]
}

describe('the V1 update walker', () => {
  it('reads every update Yjs writes to its end, each varint where lib0 reads it', () => {
    const kinds = new Set(
      yjsUpdates().flatMap((update) => walkUpdate(update).runs.flatMap((r) => r.structs.map((s) => s.kind))),
    )
    expect([...kinds].sort()).toEqual(['gc', 'item', 'skip'])
    for (const update of [...yjsUpdates(), ...ISSUE_STORED.map(fromHex)]) {
      const layout = walkUpdate(update)
      expect(layout.end).toBe(update.length)
      const decoded = Y.decodeUpdate(update)
      expect(layout.runs.flatMap((run) => run.structs)).toHaveLength(decoded.structs.length)
      expect(layout.deleteSetEntries).toHaveLength(decoded.ds.clients.size)
      for (const field of layout.varints) {
        expect(readVarUintAt(update, field.start)).toEqual({ value: field.value, end: field.end })
        if (field.value <= BigInt(Number.MAX_SAFE_INTEGER)) {
          const decoder = decoding.createDecoder(update)
          decoder.pos = field.start
          expect(decoding.readVarUint(decoder)).toBe(Number(field.value))
        }
      }
    }
  })

  it('writes the extreme values exactly, past what a JS number holds', () => {
    for (const value of EXTREME_VALUES) {
      expect(readVarUintAt(encodeVarUint(value), 0)).toEqual({ value, end: encodeVarUint(value).length })
    }
    expect([...encodeVarUint(2n ** 64n - 1n)]).toEqual([...Array(9).fill(0xff), 0x01])
    // The issue's first frame holds 2^53−1 as lib0 writes it.
    const frame = fromHex(ISSUE_FRAMES.wedgesTheRoom)
    const payload = frame.subarray(walkFrame(frame).payload!.start)
    expect(walkUpdate(payload).varints.some((field) => field.value === 2n ** 53n - 1n)).toBe(true)
  })

  it('makes mutants that stay framed: a sweep covers every varint with every value', () => {
    const update = yjsUpdates()[0]!
    const specimen: Specimen = { kind: 'update', label: 'a message', step: 'update', update }
    const varints = walkUpdate(update).varints.length
    const sweep = varintSweep(specimen)
    expect(sweep.length).toBeGreaterThanOrEqual(varints * (EXTREME_VALUES.length - 1))
    for (const mutant of sweep.filter((m) => !m.label.includes(': frame '))) {
      const { payload } = walkFrame(mutant.frame)
      expect(payload!.end).toBe(mutant.frame.length)
    }
    const random = createRandom(7)
    for (let i = 0; i < 500; i++) {
      const mutant = randomMutant(specimen, random, { interesting: [5n] })
      expect(mutant.frame).toBeInstanceOf(Uint8Array)
    }
    expect(payloadOf(specimen)).toBe(update)
  })
})

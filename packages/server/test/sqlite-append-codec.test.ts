import { describe, expect, it } from 'vitest'
import { readAppendBatch, writeAppendBatch } from '../src/store/sqlite-append-codec.js'
import type { AppendRequest } from '../src/store/sqlite-log.js'
import type { ConversationSummary } from '../src/store/store.js'

const summary: ConversationSummary = {
  id: 'c1',
  title: 'Lunch',
  members: { alice: { role: 'owner', joinedAt: 1 }, 'bob.b': { role: 'member', joinedAt: 2 } },
  lastMessage: { id: 'm1', author: 'alice', text: 'noon? 🍜', createdAt: 1_733_000_000_000, seq: 7 },
  updatedAt: 1_733_000_000_123,
  lastSeq: 7,
  reads: { alice: 7, 'bob.b': 3 },
  delivered: { alice: 7, 'bob.b': 7 },
  recentAuthors: ['alice'],
  recentMentions: [['bob.b']],
}

describe('the SQLite worker’s append batch, as one transferred buffer', () => {
  it('carries updates, the serialised summary, fence, claims and sealed records unchanged', () => {
    const chunk = new Uint8Array(64).map((_, i) => i)
    const batch: AppendRequest[] = [
      {
        docId: 'c1',
        // A view into a larger buffer, as a socket's read chunk hands it over: only its bytes go.
        updates: [chunk.subarray(3, 9), new Uint8Array([250, 251])],
        summary,
        fence: { nodeId: 'node-a', epoch: 42 },
        claims: [{ key: 'm|x1', holder: 'alice 12:3' }],
        sealed: [{ seq: 1, id: 'm0', author: 'alice', text: 'old', createdAt: 5, to: ['bob.b'] }],
      },
      { docId: 'c2', updates: [], summary: undefined },
    ]
    const [first, second] = readAppendBatch(writeAppendBatch(batch))
    expect(first!.updates.map((update) => [...update])).toEqual([
      [3, 4, 5, 6, 7, 8],
      [250, 251],
    ])
    expect(JSON.parse(first!.summary!.json)).toEqual(summary)
    expect(first!.summary).toMatchObject({ updatedAt: summary.updatedAt, memberIds: ['alice', 'bob.b'] })
    expect(first!.fence).toEqual({ nodeId: 'node-a', epoch: 42 })
    expect(first!.claims).toEqual([{ key: 'm|x1', holder: 'alice 12:3' }])
    expect(first!.sealed).toEqual([{ seq: 1, json: JSON.stringify(batch[0]!.sealed![0]) }])
    expect(second).toEqual({
      docId: 'c2',
      updates: [],
      summary: undefined,
      fence: undefined,
      claims: [],
      sealed: [],
    })
  })
})

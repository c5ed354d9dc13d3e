import { Conversation, initConversation, newConversationDoc } from '@ticks/core'
import { describe, expect, it } from 'vitest'
import { newestFirst, summarize } from '../src/conversation-summary.js'

const HOUR = 3_600_000

/** A conversation as alice's device has it: created at `createdAt`, with bob's messages at `messageTimes`. */
function conversation(id: string, createdAt: number, messageTimes: number[] = []) {
  const doc = newConversationDoc(id)
  initConversation(doc, { title: id, members: { alice: 'owner', bob: 'member' }, now: createdAt })
  let clock = 0
  const bob = new Conversation(doc, { userId: 'bob', replicaId: 'bob', now: () => messageTimes[clock++]! })
  for (const _ of messageTimes) bob.send('hi')
  return new Conversation(doc, { userId: 'alice', replicaId: 'alice' })
}

describe('the conversation list order', () => {
  it('puts a new conversation with no messages above older activity, by when it was created', () => {
    const now = Date.now()
    const old = conversation('old', now - 48 * HOUR, [now - 2 * HOUR])
    const fresh = conversation('fresh', now - 60_000)
    const rows = [old, fresh].map((c) =>
      summarize({ id: c.id, title: c.id, listedAt: now - 90 * HOUR }, c, 'alice'),
    )
    expect(newestFirst(rows).map((row) => row.id)).toEqual(['fresh', 'old'])
  })

  it('falls back to when this device first listed it while its document is not loaded yet', () => {
    const now = Date.now()
    const old = conversation('old', now - 48 * HOUR, [now - 2 * HOUR])
    const rows = [
      summarize({ id: 'old', title: 'old', listedAt: now - 90 * HOUR }, old, 'alice'),
      summarize({ id: 'just-listed', title: 'just listed', listedAt: now }, undefined, 'alice'),
    ]
    expect(newestFirst(rows).map((row) => row.id)).toEqual(['just-listed', 'old'])
  })
})

import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { Conversation, initConversation, isValidId } from '../src/index.js'

const conversationDoc = () => {
  const doc = new Y.Doc({ guid: 'c' })
  initConversation(doc, { title: 't', members: { alice: 'owner', bob: 'member' } })
  return doc
}

describe('message ids', () => {
  it('are random and valid by default', () => {
    const conversation = new Conversation(conversationDoc(), { userId: 'alice' })
    const ids = [conversation.send('one').id, conversation.send('two').id]
    expect(ids.every((id) => isValidId(id))).toBe(true)
    expect(ids[0]).not.toBe(ids[1])
  })

  it('come from the newId option when given, so a seeded run replays them', () => {
    let next = 0
    const conversation = new Conversation(conversationDoc(), {
      userId: 'alice',
      newId: () => `id-${++next}`,
    })
    expect([conversation.send('one').id, conversation.send('two').id]).toEqual(['id-1', 'id-2'])
    expect(conversation.messages().map((m) => m.id)).toEqual(['id-1', 'id-2'])
  })

  it('refuses an invalid or reused id from newId instead of writing it', () => {
    const doc = conversationDoc()
    const invalid = new Conversation(doc, { userId: 'alice', newId: () => 'not a valid id' })
    expect(() => invalid.send('x')).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
    const reused = new Conversation(doc, { userId: 'alice', newId: () => 'same' })
    reused.send('first')
    expect(() => reused.send('second')).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
    expect(reused.messages().map((m) => m.text)).toEqual(['first'])
  })
})

import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { Conversation, ConversationIndex, initConversation, stampUnsequenced } from '../src/index.js'

describe('several readers of one document', () => {
  it('all see a root that appears after they were created', () => {
    const server = new Y.Doc({ guid: 'c' })
    initConversation(server, { title: 't', members: { alice: 'owner', bob: 'member' } })
    const doc = new Y.Doc({ guid: 'c' })
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(server))
    const first = new Conversation(doc, { userId: 'alice', replicaId: 'a' })
    const message = first.send('x')
    const second = new Conversation(doc, { userId: 'alice', replicaId: 'a' })
    Y.applyUpdate(server, Y.encodeStateAsUpdate(doc))
    stampUnsequenced(new ConversationIndex(server))
    // The order log is a root neither reader has touched: the first to see it retypes it.
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(server, Y.encodeStateVector(doc)))
    expect(first.message(message.id).seq).toBe(1)
    expect(second.message(message.id).seq).toBe(1)
  })

  it('lets send() run inside an outer transaction', () => {
    const doc = new Y.Doc({ guid: 'c' })
    initConversation(doc, { title: 't', members: { alice: 'owner' } })
    const conversation = new Conversation(doc, { userId: 'alice' })
    const sent = doc.transact(() => [conversation.send('one'), conversation.send('two')])
    expect(sent.map((m) => m.status)).toEqual(['pending', 'pending'])
    expect(conversation.messages().map((m) => m.text)).toEqual(['one', 'two'])
  })

  it('refuses writes after destroy() instead of losing them', () => {
    const doc = new Y.Doc({ guid: 'c' })
    initConversation(doc, { title: 't', members: { alice: 'owner', bob: 'member' } })
    const conversation = new Conversation(doc, { userId: 'alice' })
    conversation.destroy()
    expect(() => conversation.send('too late')).toThrow(expect.objectContaining({ code: 'closed' }))
    expect(() => conversation.setTitle('too late')).toThrow(expect.objectContaining({ code: 'closed' }))
    expect(conversation.markRead()).toBe(false)
    expect(doc.getMap('u:alice').size).toBe(0)
  })
})

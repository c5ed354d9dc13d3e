import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import {
  Conversation,
  ConversationIndex,
  initConversation,
  SERVER_ROOT,
  stampUnsequenced,
} from '../src/index.js'

/** A server document holding `count` stamped messages from alice to bob. */
function stampedConversation(count: number) {
  const server = new Y.Doc({ guid: 'c' })
  initConversation(server, { title: 't', members: { alice: 'owner', bob: 'member' } })
  const alice = new Conversation(server, { userId: 'alice', replicaId: 'alice-phone' })
  const sent = Array.from({ length: count }, (_, i) => alice.send(`message ${i}`))
  alice.destroy()
  stampUnsequenced(new ConversationIndex(server))
  return { server, sent }
}

const view = (conversation: Conversation) =>
  conversation.messages().map(({ id, seq, status }) => ({ id, seq, status }))

describe('the conversation index', () => {
  it('passes over a message deleted after its stamp, also on a replica that loads it deleted (fuzz finding)', () => {
    const { server, sent } = stampedConversation(3)
    // The author's discard crossed the stamp: the order log names an entry that is gone.
    server.getMap('u:alice').delete(`m|${sent[1]!.id}`)
    const fresh = new Y.Doc({ guid: 'c' })
    Y.applyUpdate(fresh, Y.encodeStateAsUpdate(server))
    const bob = new Conversation(fresh, { userId: 'bob', replicaId: 'bob-new-device' })
    expect(bob.conversationIndex.integratedPrefix()).toBe(3)
    bob.markRead()
    expect(bob.conversationIndex.watermarkOf('bob')).toEqual({ d: 3, r: 3 })
    // A message that has not arrived yet still holds the prefix back.
    const late = new Y.Doc({ guid: 'c' })
    late.transact(() =>
      late.getArray<string>(SERVER_ROOT).insert(0, server.getArray<string>(SERVER_ROOT).toArray()),
    )
    expect(new ConversationIndex(late).integratedPrefix()).toBe(0)
  })

  it('places a message whose stamp arrived before it', () => {
    const { server, sent } = stampedConversation(3)
    const late = new Y.Doc({ guid: 'c' })
    const conversation = new Conversation(late, { userId: 'bob', replicaId: 'bob-phone' })
    // The order log alone first (copied by value: in the server's own update the stamps come
    // after the messages they stamp), then the messages, as from a peer that relays them later.
    const log = server.getArray<string>(SERVER_ROOT).toArray()
    late.transact(() => late.getArray<string>(SERVER_ROOT).insert(0, log))
    expect(conversation.messages()).toEqual([])
    expect(conversation.conversationIndex.seqOf(sent[1]!.id)).toBe(2)

    late.transact(() => {
      const root = late.getMap('u:alice')
      for (const [key, value] of server.getMap('u:alice').entries()) root.set(key, value)
    })
    expect(view(conversation).map((m) => [m.id, m.seq])).toEqual(sent.map((m, i) => [m.id, i + 1]))
    conversation.destroy()
  })

  it('builds the same list from a first load as from a conversation opened afterwards', () => {
    const { server, sent } = stampedConversation(50)
    const stored = Y.encodeStateAsUpdate(server)

    // Open first, then load everything in one transaction (IndexedDB, a first sync).
    const early = new Y.Doc({ guid: 'c' })
    const openedEarly = new Conversation(early, { userId: 'bob', replicaId: 'bob-phone' })
    let changes = 0
    openedEarly.onChange(() => changes++)
    Y.applyUpdate(early, stored)
    expect(changes).toBe(1)

    // Load first, then open.
    const late = new Y.Doc({ guid: 'c' })
    Y.applyUpdate(late, stored)
    const openedLate = new Conversation(late, { userId: 'bob', replicaId: 'bob-phone' })

    expect(view(openedEarly)).toEqual(view(openedLate))
    expect(view(openedEarly).map((m) => m.id)).toEqual(sent.map((m) => m.id))
    expect(openedEarly.members()).toEqual(openedLate.members())

    // And it keeps following changes one at a time afterwards.
    openedEarly.markRead()
    const reply = openedEarly.send('a reply')
    expect(openedEarly.messages().at(-1)).toMatchObject({ id: reply.id, status: 'pending' })
    expect(openedEarly.receipts(sent[0]!.id)).toEqual({ bob: 'read' })
    openedEarly.destroy()
    openedLate.destroy()
  })

  it('keeps the seq of a message deleted after its stamp, and counts it as integrated', () => {
    const { server, sent } = stampedConversation(2)
    const alice = new Conversation(server, { userId: 'alice', replicaId: 'alice-phone' })
    // A discard that crossed the server's stamp (discard() itself refuses stamped messages).
    server.getMap('u:alice').delete(`m|${sent[0]!.id}`)
    const index = alice.conversationIndex
    expect(index.seqOf(sent[0]!.id)).toBe(1)
    expect(index.discarded.has(sent[0]!.id)).toBe(true)
    expect(index.integratedPrefix()).toBe(2)
    expect(view(alice).map((m) => [m.id, m.seq])).toEqual([[sent[1]!.id, 2]])
    alice.destroy()
  })

  it('follows deletions in a conversation that holds no message yet', () => {
    const doc = new Y.Doc({ guid: 'c' })
    initConversation(doc, { title: 't', members: { alice: 'owner', bob: 'member' } })
    const index = new ConversationIndex(doc)
    doc.transact(() => doc.getMap('meta').delete('member|bob'))
    doc.transact(() => doc.getMap('meta').delete('title'))
    expect([...index.members.keys()]).toEqual(['alice'])
    expect(index.title).toBe('')
    index.destroy()
  })

  it('shows the new text of a record rewritten in place', () => {
    const { server, sent } = stampedConversation(2)
    const bob = new Conversation(server, { userId: 'bob', replicaId: 'bob-phone' })
    expect(bob.messages().map((m) => m.text)).toEqual(['message 0', 'message 1'])
    // The server refuses rewrites, but a replica may still meet one (an old server, a peer).
    const root = server.getMap('u:alice')
    const record = root.get(`m|${sent[0]!.id}`) as object
    root.set(`m|${sent[0]!.id}`, { ...record, text: 'rewritten' })
    expect(bob.messages().map((m) => m.text)).toEqual(['rewritten', 'message 1'])
    bob.destroy()
  })

  it('fills the collections a reader took before anything was written (they are made on first use)', () => {
    const doc = new Y.Doc({ guid: 'c' })
    const index = new ConversationIndex(doc)
    const { messages, members, unsequencedIds, discarded } = index
    const watermarks = index.watermarks()
    initConversation(doc, { title: 't', members: { alice: 'owner', bob: 'member' } })
    const alice = new Conversation(doc, { userId: 'alice', replicaId: 'alice-phone' })
    const sent = [alice.send('kept'), alice.send('discarded')]
    expect([...unsequencedIds]).toEqual(sent.map((message) => message.id))
    stampUnsequenced(index)
    alice.markRead()
    doc.getMap('u:alice').delete(`m|${sent[1]!.id}`)
    expect([...members.keys()].sort()).toEqual(['alice', 'bob'])
    expect([...messages.keys()]).toEqual([sent[0]!.id])
    expect([...discarded]).toEqual([sent[1]!.id])
    expect(watermarks.get('alice')).toEqual({ d: 2, r: 2 })
    expect(index.messages).toBe(messages)
    alice.destroy()
    index.destroy()
  })
})

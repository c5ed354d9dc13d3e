import { describe, expect, it } from 'vitest'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as Y from 'yjs'
import { createConversation, createRoom, MemoryStore, RoomError } from '../src/index.js'
import { writeAwareness, writeUpdate } from '../src/sync/protocol.js'
import { connectMemoryPeer, until } from './helpers/memory-peer.js'

const members = { alice: 'owner', bob: 'member' } as const

/** A store whose appends fail once told to (a full disk). */
class FailingStore extends MemoryStore {
  failing = false
  override async append(...args: Parameters<MemoryStore['append']>) {
    if (this.failing) throw new Error('disk full')
    return super.append(...args)
  }
}

async function openRoom(store = new MemoryStore()) {
  const id = await createConversation(store, { title: 'T', members })
  const room = await createRoom({ id, store })
  return { id, room, store }
}

describe('one member cannot touch what another wrote', () => {
  it("refuses a message under one's own root that reuses another author's message id", async () => {
    const { room } = await openRoom()
    const alice = connectMemoryPeer(room, 'alice')
    const bob = connectMemoryPeer(room, 'bob')
    const sent = alice.conversation.send('hello from alice')
    await until(() => bob.conversation.messages().length === 1 && room.index.seqOf(sent.id) === 1)

    bob.doc.getMap('u:bob').set(`m|${sent.id}`, { id: sent.id, text: 'forged', createdAt: 1, to: ['alice'] })
    await until(() => bob.closed !== null)
    expect(bob.closed).toMatchObject({ code: 4400 })
    expect(room.index.messages.get(sent.id)).toMatchObject({
      author: 'alice',
      record: { text: 'hello from alice' },
    })
    expect(room.doc.getMap('u:bob').has(`m|${sent.id}`)).toBe(false)
    await room.close()
  })

  it("refuses structs under another user's Yjs client id, so that user's later writes still land", async () => {
    const { id, room, store } = await openRoom()
    const alice = connectMemoryPeer(room, 'alice')
    const bob = connectMemoryPeer(room, 'bob')
    const first = alice.conversation.send('first')
    await until(() => room.index.seqOf(first.id) === 1)
    alice.connection.disconnect()
    const offline = alice.conversation.send('written offline')

    // Bob claims alice's client id, at the clock her offline message holds, in his own root.
    const forged = new Y.Doc({ guid: id })
    Y.applyUpdate(forged, Y.encodeStateAsUpdate(room.doc))
    forged.clientID = alice.doc.clientID
    const before = Y.encodeStateVector(forged)
    forged.getMap('u:bob').set('r|squat', { d: 0, r: 0 })
    bob.connection.receive(writeUpdate(Y.encodeStateAsUpdate(forged, before)))
    await until(() => bob.closed !== null)
    expect(bob.closed).toMatchObject({ code: 4403 })

    const back = connectMemoryPeer(room, 'alice', alice.doc)
    await until(() => back.conversation.status(offline.id) === 'sent')
    const stored = new Y.Doc()
    for (const { update } of (await store.load(id))!) Y.applyUpdate(stored, update)
    expect(stored.getMap('u:alice').has(`m|${offline.id}`)).toBe(true)
    expect(stored.getMap('u:bob').has('r|squat')).toBe(false)
    await room.close()
  })

  it("keeps presence to its announcer: another user's awareness entries for that client are dropped", async () => {
    const { id, room } = await openRoom()
    const alice = connectMemoryPeer(room, 'alice')
    const bob = connectMemoryPeer(room, 'bob')
    const aliceAwareness = new awarenessProtocol.Awareness(alice.doc)
    aliceAwareness.setLocalState({ name: 'Alice' })
    alice.connection.receive(
      writeAwareness(awarenessProtocol.encodeAwarenessUpdate(aliceAwareness, [alice.doc.clientID])),
    )
    expect(room.awareness.getStates().get(alice.doc.clientID)).toEqual({ name: 'Alice' })

    // Bob speaks for alice's client id (and for his own, in the same update).
    const spoofDoc = new Y.Doc({ guid: id })
    spoofDoc.clientID = alice.doc.clientID
    const spoof = new awarenessProtocol.Awareness(spoofDoc)
    // A later clock than alice's own state, so the room would take it if it were hers.
    spoof.setLocalState({ name: 'Alice' })
    spoof.setLocalState({ name: 'Alice', typing: 'i quit' })
    const bobOwn = new awarenessProtocol.Awareness(bob.doc)
    bobOwn.setLocalState({ name: 'Bob' })
    const entries = [
      awarenessProtocol.encodeAwarenessUpdate(spoof, [alice.doc.clientID]),
      awarenessProtocol.encodeAwarenessUpdate(bobOwn, [bob.doc.clientID]),
    ]
    for (const entry of entries) bob.connection.receive(writeAwareness(entry))

    expect(room.awareness.getStates().get(alice.doc.clientID)).toEqual({ name: 'Alice' })
    expect(room.awareness.getStates().get(bob.doc.clientID)).toEqual({ name: 'Bob' })
    expect(bob.closed).toBeNull()
    for (const awareness of [aliceAwareness, spoof, bobOwn]) awareness.destroy()
    await room.close()
  })

  it('stops sending the conversation to a member the owner removed', async () => {
    const { room } = await openRoom()
    const alice = connectMemoryPeer(room, 'alice')
    const bob = connectMemoryPeer(room, 'bob')
    await until(() => bob.conversation.members().alice !== undefined)
    const before = alice.conversation.send('before bob left')
    await until(() => bob.conversation.messages().some((message) => message.id === before.id))
    // Carol in, Bob out, in one transaction: the member count stays the same.
    alice.doc.transact(() => {
      alice.conversation.setMember('carol', 'member')
      alice.doc.getMap('meta').delete('member|bob')
    })
    await until(() => bob.closed !== null)
    expect(bob.closed).toMatchObject({ code: 4403 })
    const secret = alice.conversation.send('after bob left')
    await until(() => room.index.seqOf(secret.id) !== undefined)
    expect(bob.conversation.messages().some((message) => message.id === secret.id)).toBe(false)
    expect(alice.closed).toBeNull()
    await room.close()
  })
})

describe('a failed commit is never reported as stored', () => {
  it('rejects a server-side send and a durable wait once a commit failed', async () => {
    const store = new FailingStore()
    const { room } = await openRoom(store)
    store.failing = true
    await expect(room.sendAs('alice', 'lost to a full disk')).rejects.toBeInstanceOf(RoomError)
    await expect(room.whenDurable()).rejects.toBeInstanceOf(RoomError)
    expect(room.isOpen).toBe(false)
  })
})

import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { createConversation, createRoom, MemoryStore, RoomError } from '../src/index.js'
import { connectMemoryPeer, until } from './helpers/memory-peer.js'

const members = { alice: 'owner', bob: 'member', olga: 'observer' } as const

describe('a room without sockets (the testkit seam)', () => {
  it('relays a message between two peers and stamps it only once stored', async () => {
    const store = new MemoryStore()
    const id = await createConversation(store, { title: 'T', members })
    const room = await createRoom({ id, store })
    const alice = connectMemoryPeer(room, 'alice')
    const bob = connectMemoryPeer(room, 'bob')
    await until(() => alice.conversation.title() === 'T' && bob.conversation.title() === 'T')
    const sent = alice.conversation.send('hello')
    await until(() => bob.conversation.messages().length === 1)
    await until(() => alice.conversation.status(sent.id) === 'sent')
    expect(alice.conversation.message(sent.id).seq).toBe(1)
    const reloaded = await createRoom({ id, store })
    expect(reloaded.index.seqOf(sent.id)).toBe(1)
    await room.close()
    await reloaded.close()
  })

  it('refuses a forged write with its close code and applies nothing', async () => {
    const store = new MemoryStore()
    const id = await createConversation(store, { title: 'T', members })
    const room = await createRoom({ id, store })
    const olga = connectMemoryPeer(room, 'olga')
    const bob = connectMemoryPeer(room, 'bob')
    await until(() => olga.conversation.title() === 'T')
    olga.doc.getMap('u:olga').set('m|x1', { id: 'x1', text: 'hi', createdAt: 1, to: [] })
    expect(olga.closed?.code).toBe(4403)
    expect(bob.closed).toBeNull()
    expect(room.index.messages.size).toBe(0)
    await room.close()
  })

  it('repairs a lost frame: an update after a gap makes the room ask the sender to resync', async () => {
    const store = new MemoryStore()
    const id = await createConversation(store, { title: 'T', members })
    const room = await createRoom({ id, store })
    const alice = connectMemoryPeer(room, 'alice')
    await until(() => alice.conversation.title() === 'T')
    // The first message's frame is lost on the way (written with the origin the peer never sends).
    let lost = ''
    alice.doc.transact(() => {
      lost = alice.conversation.send('lost on the wire').id
    }, 'room')
    const next = alice.conversation.send('arrives after a gap')
    expect(alice.closed).toBeNull()
    await until(
      () => alice.conversation.status(lost) === 'sent' && alice.conversation.status(next.id) === 'sent',
    )
    expect([lost, next.id].map((m) => room.index.seqOf(m))).toEqual([1, 2])
    await room.close()
  })

  it('refuses a message reusing the id of a sealed one, once the live document no longer holds it', async () => {
    const store = new MemoryStore()
    const id = await createConversation(store, { title: 'T', members })
    // A window of 4 and compaction after every stamp: the snapshot drops sealed entries' keys.
    const options = { id, store, historyWindow: 4, compaction: { maxEntries: 0, maxBytes: 0 } }
    const room = await createRoom(options)
    const alice = connectMemoryPeer(room, 'alice')
    await until(() => alice.conversation.title() === 'T')
    const sent = Array.from({ length: 12 }, (_, i) => alice.conversation.send(`message ${i}`))
    await until(() => room.index.lastSeq() === sent.length && room.index.sealedThrough >= 8)
    await room.close()

    const reloaded = await createRoom(options)
    const sealed = (await store.history(id, 5, 1))[0]!
    expect(reloaded.index.seqOf(sealed.id)).toBeUndefined()
    const bob = connectMemoryPeer(reloaded, 'bob')
    await until(() => bob.conversation.title() === 'T')
    bob.doc
      .getMap('u:bob')
      .set(`m|${sealed.id}`, { id: sealed.id, text: 'mine now', createdAt: 1, to: ['alice'] })
    await until(() => bob.closed !== null)
    expect(bob.closed).toEqual({ code: 4400, reason: `message ${sealed.id} already exists in the history` })
    // Nothing of it was applied or stored, and a fresh id still goes through for someone else.
    expect(reloaded.index.seqOf(sealed.id)).toBeUndefined()
    const aliceAgain = connectMemoryPeer(reloaded, 'alice', new Y.Doc({ guid: id }))
    await until(() => aliceAgain.conversation.title() === 'T')
    const fresh = aliceAgain.conversation.send('a new one')
    await until(() => aliceAgain.conversation.status(fresh.id) === 'sent')
    expect(await store.sealedMessages(id, [sealed.id])).toEqual([sealed])
    await reloaded.close()
    const again = await createRoom(options)
    expect(again.index.seqOf(sealed.id)).toBeUndefined()
    expect([...again.index.messages.values()].some((m) => m.record.text === 'mine now')).toBe(false)
    await again.close()
  })

  it('refuses an unknown conversation and a stranger', async () => {
    const store = new MemoryStore()
    await expect(createRoom({ id: 'nope', store })).rejects.toBeInstanceOf(RoomError)
    const id = await createConversation(store, { title: 'T', members })
    const room = await createRoom({ id, store })
    const mallory = connectMemoryPeer(room, 'mallory')
    expect(mallory.closed?.code).toBe(4403)
    await room.close()
  })
})

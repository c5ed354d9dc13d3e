import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { Conversation, ConversationIndex, initConversation, stampUnsequenced } from '../src/index.js'

describe('receipts of one user on two devices', () => {
  it('settle: a device whose key a sibling deleted does not write it back', () => {
    const server = new Y.Doc({ guid: 'c' })
    initConversation(server, { title: 't', members: { alice: 'owner', bob: 'member' } })
    const bob = new Conversation(server, { userId: 'bob', replicaId: 'bob-phone' })
    for (let i = 0; i < 3; i++) bob.send(`hello ${i}`)
    stampUnsequenced(new ConversationIndex(server))

    const [phone, laptop] = ['alice-phone', 'alice-laptop'].map((replicaId) => {
      const doc = new Y.Doc({ guid: 'c' })
      Y.applyUpdate(doc, Y.encodeStateAsUpdate(server))
      return new Conversation(doc, { userId: 'alice', replicaId })
    }) as [Conversation, Conversation]
    const exchange = () => {
      Y.applyUpdate(laptop.doc, Y.encodeStateAsUpdate(phone.doc, Y.encodeStateVector(laptop.doc)))
      Y.applyUpdate(phone.doc, Y.encodeStateAsUpdate(laptop.doc, Y.encodeStateVector(phone.doc)))
    }
    expect(phone.markDelivered()).toBe(true)
    exchange()
    // The laptop reads everything: its raise dominates the phone's key, so it deletes that key.
    expect(laptop.markRead()).toBe(true)

    // From now on each device marks delivered on every remote change, as the client does.
    let rewrites = 0
    for (const device of [phone, laptop]) {
      device.onChange(() => {
        if (device.markDelivered()) rewrites++
      })
    }
    for (let round = 0; round < 10; round++) exchange()

    // The phone's key is gone, but the user's watermark covers it: nothing to write back.
    expect(rewrites).toBe(0)
    expect(phone.conversationIndex.replicaWatermarksOf('alice').has('alice-phone')).toBe(false)
    for (const device of [phone, laptop]) {
      expect(device.receipts(device.messages()[2]!.id)).toEqual({ alice: 'read' })
    }
  })
})

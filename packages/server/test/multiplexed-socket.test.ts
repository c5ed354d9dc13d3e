import { writeMuxMessage } from '@ticks/core'
import { afterEach, describe, expect, it } from 'vitest'
import { type MuxClient, muxClient } from './helpers/mux-client.js'
import { type StockClient, startTestServer, stockClient, type TestServer, until } from './helpers/server.js'

/** Issue 14: many conversations over one socket, each as isolated as its own socket would be. */
describe('the multiplexed socket (/sync)', () => {
  let server: TestServer
  const open: (MuxClient | StockClient)[] = []
  afterEach(async () => {
    for (const client of open.splice(0)) 'socket' in client ? client.close() : client.destroy()
    await server?.close()
  })

  const sentEverywhere = (
    replicas: { conversation: { messages(): { id: string; seq?: number }[] } }[],
    ids: string[],
  ) => replicas.every((r) => ids.every((id) => r.conversation.messages().some((m) => m.id === id && m.seq)))

  it('carries several conversations on one socket, beside stock clients on /sync/<id>', async () => {
    server = await startTestServer()
    const first = await server.conversation('alice', { bob: 'member' })
    const second = await server.conversation('alice', { carol: 'member' })
    const alice = await muxClient(server, 'alice')
    const bob = await stockClient(server, first, 'bob')
    const carol = await stockClient(server, second, 'carol')
    open.push(alice, bob, carol)
    const a1 = alice.join(first)
    const a2 = alice.join(second)
    await until(
      () => a1.conversation.title() === 'Test' && a2.conversation.title() === 'Test',
      5000,
      'both joined',
    )
    await until(() => bob.provider.synced && carol.provider.synced, 5000, 'stock clients synced')

    const toBob = a1.conversation.send('to bob')
    const toCarol = a2.conversation.send('to carol')
    const fromBob = bob.conversation.send('from bob')
    const fromCarol = carol.conversation.send('from carol')
    await until(() => sentEverywhere([a1, bob], [toBob.id, fromBob.id]), 5000, 'the first conversation')
    await until(() => sentEverywhere([a2, carol], [toCarol.id, fromCarol.id]), 5000, 'the second')
    // Nothing crosses between conversations.
    expect(a1.conversation.messages().map((m) => m.text)).toEqual(
      bob.conversation.messages().map((m) => m.text),
    )
    expect(a2.conversation.messages().some((m) => m.text === 'to bob')).toBe(false)
    bob.conversation.markRead()
    await until(
      () => a1.conversation.status(toBob.id) === 'read',
      5000,
      'a read receipt over the shared socket',
    )
    const metrics = (await server.app.inject({ url: '/metrics' })).body
    expect(metrics).toMatch(/^ticks_sockets 3$/m)
  })

  it('ends only the refused conversation: the socket and the others go on', async () => {
    server = await startTestServer()
    const mine = await server.conversation('alice', { bob: 'member' })
    const other = await server.conversation('alice', { bob: 'member' })
    const notMine = await server.conversation('carol', { dave: 'member' })
    const bob = await muxClient(server, 'bob')
    open.push(bob)
    const forged = bob.join(mine)
    const kept = bob.join(other)
    const stranger = bob.join(notMine)
    const missing = bob.join('no-such-conversation')
    await until(
      () => forged.conversation.title() === 'Test' && kept.conversation.title() === 'Test',
      5000,
      'joined',
    )
    await until(() => stranger.refusals.length > 0 && missing.refusals.length > 0, 5000, 'refusals')
    expect(stranger.refusals).toEqual([{ code: 4403, reason: 'bob is not a member of this conversation' }])
    expect(stranger.conversation.messages()).toEqual([])
    expect(missing.refusals).toMatchObject([{ code: 4404 }])

    // A forgery in one conversation ends that one, with the reason a /sync/<id> socket would get.
    forged.doc.getMap('u:alice').set('m|forged', { id: 'forged', text: 'x', createdAt: 1, to: [] })
    await until(() => forged.refusals.length > 0, 5000, 'the forgery refused')
    expect(forged.refusals[0]).toMatchObject({ code: 4403 })
    const framesBefore = forged.frames
    // The other conversation and the socket carry on.
    const hello = kept.conversation.send('still here')
    await until(() => sentEverywhere([kept], [hello.id]), 5000, 'the other conversation goes on')
    expect(bob.socket.readyState).toBe(bob.socket.OPEN)
    // Frames for the ended conversation are dropped, not answered.
    forged.conversation.send('after the refusal')
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(forged.frames).toBe(framesBefore)
    // Joined again (a fresh replica), it syncs without the forgery.
    const again = bob.join(mine)
    await until(() => again.conversation.title() === 'Test', 5000, 'joined again')
    expect(again.doc.getMap('u:alice').has('m|forged')).toBe(false)
  })

  it('stops sending a conversation once left', async () => {
    server = await startTestServer()
    const id = await server.conversation('alice', { bob: 'member' })
    const alice = await muxClient(server, 'alice')
    const bob = await stockClient(server, id, 'bob')
    open.push(alice, bob)
    const replica = alice.join(id)
    await until(() => replica.conversation.title() === 'Test' && bob.provider.synced, 5000, 'joined')
    alice.leave(id)
    await new Promise((resolve) => setTimeout(resolve, 50))
    const frames = replica.frames
    const late = bob.conversation.send('after alice left')
    await until(() => bob.conversation.status(late.id) === 'sent', 5000, 'sent')
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(replica.frames).toBe(frames)
    expect(replica.conversation.messages()).toEqual([])
  })

  it('bounds conversations per socket and refuses malformed envelopes by closing the socket', async () => {
    server = await startTestServer({ limits: { maxConversationsPerSocket: 2 } })
    const ids = [
      await server.conversation('alice', {}),
      await server.conversation('alice', {}),
      await server.conversation('alice', {}),
    ]
    const alice = await muxClient(server, 'alice')
    open.push(alice)
    const [one, two, three] = ids.map((id) => alice.join(id))
    await until(() => three!.refusals.length > 0, 5000, 'the third refused')
    expect(three!.refusals[0]).toMatchObject({ code: 4429 })
    await until(() => one!.conversation.title() === 'Test' && two!.conversation.title() === 'Test')
    // Leaving makes room.
    alice.leave(ids[0]!)
    const retry = alice.join(ids[2]!)
    await until(() => retry.conversation.title() === 'Test', 5000, 'joined after a leave')

    // A message for a conversation id that is no valid id, then an envelope without an id at all.
    alice.raw(writeMuxMessage('bad id!', Uint8Array.of(0, 0, 1, 0)))
    alice.raw(Uint8Array.of(0xff))
    const closed = await alice.closed
    expect(closed.code).toBe(4400)
  })
})

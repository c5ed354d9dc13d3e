import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import * as Y from 'yjs'
import { writeUpdate } from '../src/sync/protocol.js'
import {
  type StockClient,
  startTestServer,
  stockClient,
  type TestServer,
  tokenFor,
  until,
} from './helpers/server.js'

/** A raw socket that speaks the protocol by hand, for frames no honest client sends. */
async function rawSocket(server: TestServer, id: string, userId: string | null) {
  const query = userId === null ? '' : `?token=${await tokenFor(userId)}`
  const socket = new WebSocket(`${server.wsUrl}/sync/${id}${query}`)
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  )
  await new Promise((resolve, reject) => {
    socket.once('open', resolve)
    socket.once('error', reject)
  })
  return { socket, closed }
}

/** An update made on a copy of `from`'s doc, as `write` does it. */
const forge = (from: Y.Doc, write: (doc: Y.Doc) => void): Uint8Array => {
  const copy = new Y.Doc({ guid: from.guid })
  Y.applyUpdate(copy, Y.encodeStateAsUpdate(from))
  const before = Y.encodeStateVector(copy)
  write(copy)
  return Y.encodeStateAsUpdate(copy, before)
}

describe('refused input closes only the offender', () => {
  let server: TestServer
  const clients: StockClient[] = []
  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy()
    await server?.close()
  })

  const setup = async () => {
    server = await startTestServer({ limits: { maxFrameBytes: 64 * 1024, maxSyncFrameBytes: 128 * 1024 } })
    const id = await server.conversation('alice', { bob: 'member', olga: 'observer' })
    const bob = await stockClient(server, id, 'bob')
    clients.push(bob)
    await until(() => bob.provider.synced, 5000, 'bob synced')
    return { id, bob }
  }

  /** After a refusal: bob is still connected, his writes still get stamped, and nothing leaked in. */
  const bystanderUnaffected = async (bob: StockClient, serverSideMessages: number) => {
    const message = bob.conversation.send('still here')
    await until(() => bob.conversation.status(message.id) === 'sent', 5000, 'bystander stamped')
    expect(bob.closes).toEqual([])
    expect(bob.conversation.messages()).toHaveLength(serverSideMessages + 1)
  }

  const cases: [
    string,
    number,
    (bob: StockClient, id: string) => Promise<{ user: string; frame: Uint8Array }>,
  ][] = [
    [
      'a forged author (writing under another user)',
      4403,
      async (bob) => ({
        user: 'alice',
        frame: writeUpdate(
          forge(bob.doc, (d) =>
            d.getMap('u:bob').set('m|forged', { id: 'forged', text: 'x', createdAt: 1, to: [] }),
          ),
        ),
      }),
    ],
    [
      "another user's receipts",
      4403,
      async (bob) => ({
        user: 'alice',
        frame: writeUpdate(forge(bob.doc, (d) => d.getMap('u:bob').set('r|fake', { d: 0, r: 0 }))),
      }),
    ],
    [
      'an observer writing',
      4403,
      async (bob) => ({
        user: 'olga',
        frame: writeUpdate(
          forge(bob.doc, (d) =>
            d.getMap('u:olga').set('m|o1', { id: 'o1', text: 'x', createdAt: 1, to: [] }),
          ),
        ),
      }),
    ],
    [
      'a write to the server order log',
      4403,
      async (bob) => ({
        user: 'alice',
        frame: writeUpdate(forge(bob.doc, (d) => d.getArray('server').push(['x']))),
      }),
    ],
    [
      'garbage bytes',
      4400,
      async () => ({ user: 'alice', frame: new Uint8Array([0, 2, 5, 0xff, 0xfe, 0xfd, 1, 2, 3]) }),
    ],
    ['a truncated varint', 4400, async () => ({ user: 'alice', frame: new Uint8Array([0x80, 0x80]) })],
    ['an unknown message type', 4400, async () => ({ user: 'alice', frame: new Uint8Array([7, 0]) })],
    ['an oversized frame', 4413, async () => ({ user: 'alice', frame: new Uint8Array(64 * 1024 + 10) })],
    [
      'an oversized sync step 2 (its own, larger limit)',
      4413,
      async () => {
        const frame = new Uint8Array(128 * 1024 + 10)
        frame[1] = 1 // message 0 (sync), sub-type 1 (step 2)
        return { user: 'alice', frame }
      },
    ],
  ]

  for (const [name, code, make] of cases) {
    it(`${name} → ${code}`, async () => {
      const { id, bob } = await setup()
      const { user, frame } = await make(bob, id)
      const offender = await rawSocket(server, id, user)
      offender.socket.send(frame)
      expect((await offender.closed).code).toBe(code)
      await bystanderUnaffected(bob, 0)
    })
  }

  it('a non-member → 4403, no token → 4401, a bad token → 4401, an unknown conversation → 4404', async () => {
    const { id, bob } = await setup()
    expect((await (await rawSocket(server, id, 'mallory')).closed).code).toBe(4403)
    expect((await (await rawSocket(server, id, null)).closed).code).toBe(4401)
    const forged = new WebSocket(
      `${server.wsUrl}/sync/${id}?token=${await tokenFor('alice', 'wrong-secret')}`,
    )
    expect(await new Promise((resolve) => forged.on('close', resolve))).toBe(4401)
    expect((await (await rawSocket(server, 'no-such-room', 'alice')).closed).code).toBe(4404)
    await bystanderUnaffected(bob, 0)
  })

  it('a socket over its rate limit → 4429', async () => {
    server = await startTestServer({ limits: { messagesPerSecond: 5, burst: 5 } })
    const id = await server.conversation('alice', { bob: 'member' })
    const offender = await rawSocket(server, id, 'alice')
    for (let i = 0; i < 20; i++) offender.socket.send(new Uint8Array([3])) // query-awareness
    expect((await offender.closed).code).toBe(4429)
  })
})

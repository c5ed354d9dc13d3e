import { readMuxFrame } from '@ticks/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WS from 'ws'
import type * as Y from 'yjs'
import { startServer, testClient, until } from './helpers.js'

let server: Awaited<ReturnType<typeof startServer>>
beforeAll(async () => {
  server = await startServer()
})
afterAll(() => server.close())

/**
 * A socket that loses the next incoming document update frame (sync message type 2), or the next
 * join it sends on the shared socket, when told to.
 */
function lossyWebSocket() {
  const control = {
    dropNextUpdate: false,
    dropped: 0,
    dropNextJoin: false,
    joinsDropped: 0,
    sockets: 0,
    /** Drop every incoming frame of the current socket (a half-open socket). */
    blackhole: false,
    /** Hold the first sync step 2 (the server's state) this long: a big first sync on a slow link. */
    holdFirstSyncMs: 0,
  }
  const filtered =
    (handler: (event: WS.MessageEvent) => void, multiplexed: boolean) =>
    (event: WS.MessageEvent): void => {
      const frame = new Uint8Array(event.data as ArrayBuffer)
      // On the shared socket, a y-websocket message follows the conversation id.
      const body = multiplexed ? readMuxFrame(frame).body : undefined
      const bytes = body ? (body.type === 'message' ? body.frame : new Uint8Array([255])) : frame
      if (control.blackhole) return
      if (control.holdFirstSyncMs > 0 && bytes[0] === 0 && bytes[1] === 1) {
        const hold = control.holdFirstSyncMs
        control.holdFirstSyncMs = 0
        setTimeout(() => handler(event), hold)
        return
      }
      if (control.dropNextUpdate && bytes[0] === 0 && bytes[1] === 2) {
        control.dropNextUpdate = false
        control.dropped++
        return
      }
      handler(event)
    }
  class LossyWebSocket extends WS {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols)
      const multiplexed = new URL(url).pathname === '/sync'
      control.sockets++
      control.blackhole = false // a new connection goes through a working network
      // y-websocket listens through `onmessage`: wrap whatever handler it sets.
      const accessor = Object.getOwnPropertyDescriptor(WS.prototype, 'onmessage')!
      Object.defineProperty(this, 'onmessage', {
        configurable: true,
        get: () => accessor.get!.call(this),
        set: (handler: ((event: WS.MessageEvent) => void) | null) =>
          accessor.set!.call(this, handler && filtered(handler, multiplexed)),
      })
    }

    override send(data: Uint8Array): void {
      if (control.dropNextJoin && readMuxFrame(data).body.type === 'join') {
        control.dropNextJoin = false
        control.joinsDropped++
        return
      }
      super.send(data)
    }
  }
  return { WebSocket: LossyWebSocket as unknown as typeof WebSocket, control }
}

describe('keeping replicas in sync', () => {
  it('the periodic resync repairs a lost frame without reconnecting', async () => {
    const aliceToken = await server.token('alice')
    const id = await server.conversation(aliceToken, ['bob'])
    const lossy = lossyWebSocket()
    const alice = testClient({ url: server.url, token: aliceToken, userId: 'alice' }).open(id)
    const bobClient = testClient({
      url: server.url,
      token: await server.token('bob'),
      userId: 'bob',
      WebSocket: lossy.WebSocket,
      connection: { resyncIntervalMs: 150 },
    })
    const bob = bobClient.open(id)
    await Promise.all([alice.whenSynced(), bob.whenSynced()])
    lossy.control.dropNextUpdate = true
    const message = alice.send('did you get this?')
    await until(
      'bob has it',
      () => bob.messages().map((m) => m.id),
      (ids) => ids.includes(message.id),
    )
    expect(lossy.control.dropped).toBe(1)
    expect(lossy.control.sockets).toBe(1) // repaired on the same socket
    await until(
      'delivered',
      () => alice.status(message.id),
      (status) => status === 'delivered',
    )
    await Promise.all([alice.close(), bobClient.close()])
  })

  it('on the shared socket, joins again when a join was lost on a socket silent otherwise', async () => {
    const aliceToken = await server.token('alice')
    const id = await server.conversation(aliceToken, [])
    const lossy = lossyWebSocket()
    lossy.control.dropNextJoin = true
    const client = testClient({
      url: server.url,
      token: aliceToken,
      userId: 'alice',
      transport: 'shared',
      WebSocket: lossy.WebSocket,
      // The watchdog is out of the way: the conversation itself must notice.
      connection: { resyncIntervalMs: 100, silenceTimeoutMs: 60_000, firstSyncTimeoutMs: 60_000 },
    })
    const alice = client.open(id)
    await until(
      'synced',
      () => alice.connection,
      (state) => state === 'synced',
      3000,
    )
    expect(lossy.control.joinsDropped).toBe(1)
    expect(lossy.control.sockets).toBe(1) // repaired on the same socket
    await client.close()
  })

  it('on the shared socket, a conversation whose join goes unanswered does not keep a silent socket', async () => {
    const aliceToken = await server.token('alice')
    const [first, second] = [
      await server.conversation(aliceToken, []),
      await server.conversation(aliceToken, []),
    ]
    const lossy = lossyWebSocket()
    const client = testClient({
      url: server.url,
      token: aliceToken,
      userId: 'alice',
      transport: 'shared',
      WebSocket: lossy.WebSocket,
      connection: { silenceTimeoutMs: 300, resyncIntervalMs: 100, firstSyncTimeoutMs: 60_000 },
    })
    const synced = client.open(first)
    expect(await synced.whenSynced()).toBe(true)
    lossy.control.blackhole = true // the network silently eats everything from now on
    const joining = client.open(second)
    // Nothing answered its join: no large first sync is on its way, so the socket has heard
    // nothing for the ordinary silence limit, not the first sync's.
    await until(
      'replaced',
      () => lossy.control.sockets,
      (n) => n === 2,
      3000,
    )
    await until(
      'both synced on the new socket',
      () => [synced.connection, joining.connection],
      (states) => states.every((state) => state === 'synced'),
    )
    await client.close()
  })

  it('marks a burst of remote messages delivered with a handful of small updates, not one each', async () => {
    const aliceToken = await server.token('alice')
    const id = await server.conversation(aliceToken, ['bob'])
    const aliceClient = testClient({ url: server.url, token: aliceToken, userId: 'alice' })
    const bobClient = testClient({ url: server.url, token: await server.token('bob'), userId: 'bob' })
    const alice = aliceClient.open(id)
    const bob = bobClient.open(id)
    await Promise.all([alice.whenSynced(), bob.whenSynced()])
    const receiptWrites: number[] = []
    bob.doc.on('update', (update: Uint8Array, _origin: unknown, _doc: Y.Doc, transaction: Y.Transaction) => {
      if (transaction.local) receiptWrites.push(update.byteLength)
    })
    const ids = Array.from({ length: 40 }, (_, i) => alice.send(`burst ${i}`).id)
    await until(
      'all delivered',
      () => ids.map((m) => alice.status(m)),
      (s) => s.every((x) => x === 'delivered'),
    )
    expect(receiptWrites.length).toBeGreaterThan(0)
    expect(receiptWrites.length).toBeLessThanOrEqual(4)
    expect(Math.max(...receiptWrites)).toBeLessThan(200)
    await Promise.all([aliceClient.close(), bobClient.close()])
  })

  it('replaces a silent (half-open) socket, but lets a long first sync finish', async () => {
    const aliceToken = await server.token('alice')
    const id = await server.conversation(aliceToken, ['bob'])
    const lossy = lossyWebSocket()
    lossy.control.holdFirstSyncMs = 1200
    const client = testClient({
      url: server.url,
      token: aliceToken,
      userId: 'alice',
      WebSocket: lossy.WebSocket,
      connection: { silenceTimeoutMs: 300, resyncIntervalMs: 100, firstSyncTimeoutMs: 60_000 },
    })
    const alice = client.open(id)
    // Silent for 1.2 s while syncing, four times the synced limit: still the first socket.
    expect(await alice.whenSynced()).toBe(true)
    expect(lossy.control.sockets).toBe(1)

    lossy.control.blackhole = true // the network silently eats everything
    await until(
      'replaced',
      () => lossy.control.sockets,
      (n) => n === 2,
    )
    lossy.control.blackhole = false
    await until(
      'synced on the new socket',
      () => alice.connection,
      (state) => state === 'synced',
    )
    await client.close()
  })
})

import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import {
  type StockClient,
  startTestServer,
  stockClient,
  type TestServer,
  tokenFor,
  until,
} from './helpers/server.js'

/** What only a socket has: back-pressure (slow consumers) and the heartbeat. */

/** A raw socket that joins as `userId` and does nothing by itself (no protocol, no reads if paused). */
async function rawSocket(
  server: TestServer,
  id: string,
  userId: string,
  options: { autoPong?: boolean } = {},
) {
  const socket = new WebSocket(`${server.wsUrl}/sync/${id}?token=${await tokenFor(userId)}`, options)
  const closes: { code: number; at: number }[] = []
  socket.on('close', (code) => closes.push({ code, at: Date.now() }))
  socket.on('error', () => {}) // a reset shows up as a close (1006)
  await new Promise((resolve, reject) => {
    socket.once('open', resolve)
    socket.once('error', reject)
  })
  return { socket, closes }
}

/** One value of the server's Prometheus text (0 when absent). */
async function metric(server: TestServer, line: string): Promise<number> {
  const text = (await server.app.inject({ url: '/metrics' })).body
  const found = text.split('\n').find((l) => l.startsWith(`${line} `))
  return found ? Number(found.slice(line.length + 1)) : 0
}

const SLOW_CLOSES = 'ticks_refused_total{close_code="1013",code="slow-consumer"}'
const TEXT = 'x'.repeat(15_000) // just under the 16 KiB text bound

/** Ten large messages in one transaction: one ~150 KB frame to every other socket. */
function sendBatch(client: StockClient): void {
  client.doc.transact(() => {
    for (let i = 0; i < 10; i++) client.conversation.send(TEXT)
  })
}

describe('socket limits', () => {
  let server: TestServer
  const clients: StockClient[] = []
  const sockets: WebSocket[] = []
  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy()
    for (const socket of sockets.splice(0)) socket.terminate()
    await server?.close()
  })

  /** A server allowing 256 KiB of backlog per socket, and alice synced in a conversation with bob. */
  const aliceOnASmallAllowance = async () => {
    server = await startTestServer({ limits: { maxBufferedBytes: 256 * 1024 } })
    const id = await server.conversation('alice', { bob: 'member' })
    const alice = await stockClient(server, id, 'alice')
    clients.push(alice)
    await until(() => alice.provider.synced, 5000, 'alice synced')
    return { id, alice }
  }

  it('drops a socket that stops reading within about a second (1013), and the room goes on', async () => {
    const { id, alice } = await aliceOnASmallAllowance()
    const bob = await rawSocket(server, id, 'bob')
    sockets.push(bob.socket)
    bob.socket.pause() // bob's kernel buffers fill, then the server's, then ws's queue
    expect(await metric(server, 'ticks_sockets')).toBe(2)

    // Enough traffic to fill loopback's kernel buffers (a few MB) and the 256 KiB allowance.
    let batches = 0
    while ((await metric(server, SLOW_CLOSES)) === 0) {
      if (++batches > 150) throw new Error('22 MB sent and bob was never found slow')
      sendBatch(alice)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    const decidedAt = Date.now()
    // ws alone would keep the socket (and the megabytes queued for it) until its 30 s close timeout:
    // the close frame waits behind data bob does not read.
    await until(async () => (await metric(server, 'ticks_sockets')) === 1, 10_000, 'the slow socket freed')
    const freedAfterMs = Date.now() - decidedAt
    console.info(
      `slow socket: found after ${batches} batches (~${batches * 150} KB), freed ${freedAfterMs} ms later`,
    )

    // Bob's side learns it at once when it reads again: the connection was reset, not left to drain.
    let readAfter = 0
    bob.socket.on('message', () => readAfter++)
    bob.socket.resume()
    await until(() => bob.closes.length > 0, 5000, 'bob sees the connection gone')
    console.info(`bob read ${readAfter} frames after resuming, then close ${bob.closes[0]!.code}`)

    // The writer was never held up nor closed, and everything it sent is stamped.
    const last = alice.conversation.send('after the slow socket left')
    await until(() => alice.conversation.status(last.id) === 'sent', 5000, 'alice still stamped')
    expect(alice.closes).toEqual([])
    expect(alice.conversation.messages().every((m) => m.status === 'sent')).toBe(true)
    expect(await metric(server, SLOW_CLOSES)).toBe(1)
  }, 30_000)

  it('does not take a big first sync for a slow consumer', async () => {
    const { id, alice } = await aliceOnASmallAllowance()
    for (let i = 0; i < 50; i++) sendBatch(alice) // ~7.5 MB of history, far above the allowance
    await until(
      () => alice.conversation.messages().every((m) => m.status === 'sent'),
      10_000,
      'history stamped',
    )

    // Bob's first sync is one ~3 MB frame, followed at once by more (sync step 1, awareness, live
    // messages): none of that is a backlog of a slow reader.
    const bob = await stockClient(server, id, 'bob')
    clients.push(bob)
    const live = setInterval(() => alice.conversation.send('live'), 5)
    try {
      await until(() => bob.provider.synced, 10_000, 'bob synced')
      await new Promise((resolve) => setTimeout(resolve, 300))
    } finally {
      clearInterval(live)
    }
    expect(bob.closes).toEqual([])
    expect(await metric(server, SLOW_CLOSES)).toBe(0)
    const total = alice.conversation.messages().length
    await until(() => bob.conversation.messages().length === total, 5000, 'bob has everything')
  }, 30_000)

  it('exempts one sync reply at a time: asking for the whole document again without reading is a backlog', async () => {
    const { id, alice } = await aliceOnASmallAllowance()
    for (let i = 0; i < 50; i++) sendBatch(alice) // ~7.5 MB
    const bob = await rawSocket(server, id, 'bob')
    sockets.push(bob.socket)
    bob.socket.pause()
    const askEverything = new Uint8Array([0, 0, 1, 0]) // sync step 1 with an empty state vector
    for (let i = 0; i < 4; i++) bob.socket.send(askEverything)
    await until(async () => (await metric(server, SLOW_CLOSES)) === 1, 10_000, 'bob dropped as slow')
    await until(async () => (await metric(server, 'ticks_sockets')) === 1, 10_000, 'bob freed')
    expect(alice.closes).toEqual([])
  }, 30_000)

  it('drops a socket that never answers pings after the heartbeat interval, keeps one that does', async () => {
    // Not much smaller: a healthy socket's pong must get in between two ticks even on a loaded machine.
    const heartbeatMs = 500
    server = await startTestServer({ limits: { heartbeatMs } })
    const id = await server.conversation('alice', { bob: 'member' })
    const mute = await rawSocket(server, id, 'bob', { autoPong: false })
    const openedAt = Date.now()
    const healthy = await rawSocket(server, id, 'alice')
    sockets.push(mute.socket, healthy.socket)
    await until(() => mute.closes.length > 0, 5000, 'the mute socket dropped')
    const droppedAfterMs = mute.closes[0]!.at - openedAt
    // One tick to ping, the next to find it unanswered: not before about one interval has passed.
    expect(droppedAfterMs).toBeGreaterThanOrEqual(heartbeatMs / 2)
    expect(mute.closes[0]!.code).toBe(1006) // terminated: no close frame for a peer that is gone
    // The socket that answers outlives several more intervals.
    await new Promise((resolve) => setTimeout(resolve, heartbeatMs * 3))
    expect(healthy.closes).toEqual([])
    expect(healthy.socket.readyState).toBe(WebSocket.OPEN)
    await until(async () => (await metric(server, 'ticks_sockets')) === 1, 2000, 'the server forgot it')
  }, 15_000)
})

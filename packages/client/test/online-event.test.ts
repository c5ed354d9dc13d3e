import 'fake-indexeddb/auto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNetwork, startServer, testClient, until } from './helpers.js'

let server: Awaited<ReturnType<typeof startServer>>
// The browser's window, as far as the client uses it: `online` events.
const page = new EventTarget()
const globals = globalThis as { addEventListener?: unknown; removeEventListener?: unknown }
beforeAll(async () => {
  server = await startServer()
  globals.addEventListener = page.addEventListener.bind(page)
  globals.removeEventListener = page.removeEventListener.bind(page)
})
afterAll(async () => {
  delete globals.addEventListener
  delete globals.removeEventListener
  await server.close()
})

const backOnline = () => page.dispatchEvent(new Event('online'))
/** Long enough for the client to have connected and synced had the event started it. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 400))

describe("the browser's online event", () => {
  it('cuts short the back-off of a conversation waiting to retry', async () => {
    const token = await server.token('alice')
    const id = await server.conversation(token, ['bob'])
    const network = createNetwork()
    const client = testClient({
      url: server.url,
      token,
      userId: 'alice',
      WebSocket: network.WebSocket,
      // A first retry 15–30 s away: only the event can bring it back within this test.
      connection: { backoffBaseMs: 30_000, maxBackoffMs: 30_000 },
    })
    const conversation = client.open(id)
    expect(await conversation.whenSynced()).toBe(true)
    network.cut()
    await until(
      'offline',
      () => conversation.connection,
      (state) => state === 'offline',
    )
    network.restore()
    backOnline()
    await until(
      'synced again',
      () => conversation.connection,
      (state) => state === 'synced',
      3000,
    )
    await client.close()
  })

  it('leaves alone what the app disconnected, did not connect, or the server stopped', async () => {
    const token = await server.token('alice')
    const [first, second] = [
      await server.conversation(token, ['bob']),
      await server.conversation(token, ['bob']),
    ]
    const network = createNetwork()
    // Counts socket attempts: one per conversation on this transport (shared-socket.test.ts has the
    // shared socket's pause and resume).
    const options = {
      url: server.url,
      token,
      userId: 'alice',
      WebSocket: network.WebSocket,
      transport: 'per-conversation' as const,
    }
    const client = testClient(options)
    const notYet = testClient({ ...options, connect: false })

    const disconnected = client.open(first)
    expect(await disconnected.whenSynced()).toBe(true)
    disconnected.disconnect()
    const unconnected = notYet.open(second)
    expect(await unconnected.whenSynced()).toBe(false)
    const missing = client.open('no-such-conversation')
    await until(
      'stopped',
      () => missing.stopped?.code,
      (code) => code === 4404,
    )
    const attempts = network.attempts()

    backOnline()
    await settle()
    expect(disconnected.connection).toBe('offline')
    expect(unconnected.connection).toBe('offline')
    expect(missing.stopped?.code).toBe(4404)
    expect(network.attempts()).toBe(attempts)

    // The app's own "retry now" still means it.
    client.reconnectAll()
    await until(
      'reconnected',
      () => disconnected.connection,
      (state) => state === 'synced',
    )
    await until(
      'stopped again',
      () => missing.stopped?.code,
      (code) => code === 4404,
    )
    expect(network.attempts()).toBe(attempts + 2)
    await Promise.all([client.close(), notYet.close()])
  })

  it('does not connect before local storage has loaded', async () => {
    const token = await server.token('alice')
    const id = await server.conversation(token, ['bob'])
    const network = createNetwork()
    const client = testClient({
      url: server.url,
      token,
      userId: 'alice',
      WebSocket: network.WebSocket,
      persistence: 'indexeddb',
    })
    const conversation = client.open(id) // IndexedDB is still loading
    backOnline()
    expect(network.attempts()).toBe(0)
    expect(conversation.connection).toBe('offline')
    expect(await conversation.whenSynced()).toBe(true)
    expect(network.attempts()).toBe(1)
    await client.close()
  })
})

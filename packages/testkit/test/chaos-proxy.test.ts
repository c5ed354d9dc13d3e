import { createServer as createHttpServer } from 'node:http'
import { type AddressInfo, createConnection, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket, WebSocketServer } from 'ws'
import { type ChaosProxy, createChaosProxy } from '../src/index.js'

/** An echo server that also counts what it received. */
async function startEchoServer() {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: true })
  await new Promise<void>((resolve) => server.once('listening', () => resolve()))
  const received: Buffer[] = []
  server.on('connection', (socket) => {
    socket.on('message', (data: Buffer) => {
      received.push(data)
      socket.send(data)
    })
  })
  const port = (server.address() as AddressInfo).port
  return {
    port,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) client.terminate()
        server.close(() => resolve())
      }),
  }
}

type Echo = Awaited<ReturnType<typeof startEchoServer>>

function connect(url: string): Promise<{ socket: WebSocket; messages: Buffer[]; errors: Error[] }> {
  return new Promise((resolve, reject) => {
    // Offer compression: the proxy must strip it so that dropping a message stays safe.
    const socket = new WebSocket(url, { perMessageDeflate: true })
    const messages: Buffer[] = []
    const errors: Error[] = []
    socket.on('message', (data: Buffer) => messages.push(data))
    socket.on('error', (error) => errors.push(error))
    socket.once('open', () => resolve({ socket, messages, errors }))
    socket.once('error', reject)
  })
}

const until = async (condition: () => boolean, timeoutMs = 3000): Promise<void> => {
  const start = Date.now()
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** A raw TCP connection to the proxy, and a promise of its end (by the proxy's reset). */
async function rawConnection(port: number): Promise<{ socket: Socket; ended: Promise<void> }> {
  const socket = createConnection({ host: '127.0.0.1', port })
  socket.on('error', () => {})
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  await new Promise((resolve) => socket.once('connect', resolve))
  return { socket, ended }
}

const within = <T>(promise: Promise<T>, ms: number): Promise<T> =>
  Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`not within ${ms} ms`)), ms)),
  ])

const closed = (socket: WebSocket) =>
  new Promise<number>((resolve) => {
    if (socket.readyState === WebSocket.CLOSED) resolve(1006)
    else socket.once('close', (code) => resolve(code))
  })

describe('createChaosProxy', () => {
  let echo: Echo | undefined
  let proxy: ChaosProxy | undefined
  const sockets: WebSocket[] = []

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.terminate()
    await proxy?.close()
    await echo?.close()
    proxy = undefined
    echo = undefined
  })

  const setup = async () => {
    echo = await startEchoServer()
    proxy = await createChaosProxy({ target: `ws://127.0.0.1:${echo.port}`, seed: 7 })
    return { echo, proxy }
  }

  const open = async (url: string) => {
    const client = await connect(url)
    sockets.push(client.socket)
    return client
  }

  it('refuses a target that is not on loopback, with a clear error', async () => {
    await expect(createChaosProxy({ target: 'ws://10.0.0.1:80' })).rejects.toThrow(/only loopback targets/)
    await expect(createChaosProxy({ target: 'example.com:443' })).rejects.toThrow(/refusing target host/)
  })

  it('forwards WebSocket messages both ways, including large ones', async () => {
    const { proxy } = await setup()
    const client = await open(proxy.url)
    const sizes = [10, 200, 70_000]
    for (const size of sizes) client.socket.send(Buffer.alloc(size, size % 251))
    await until(() => client.messages.length === sizes.length)
    expect(client.messages.map((m) => m.length)).toEqual(sizes)
    expect(client.socket.extensions).toBe('')
    expect(proxy.stats().messagesForwarded).toBe(2 * sizes.length)
  })

  it('drops whole messages and keeps both streams valid', async () => {
    const { echo, proxy } = await setup()
    proxy.dropRate(0.3)
    const client = await open(proxy.url)
    const count = 200
    for (let i = 0; i < count; i++) client.socket.send(Buffer.alloc(100 + i * 50, i))
    // Ping/pong are control frames: they always pass, so this proves the stream is still in sync.
    await until(
      () => proxy.stats().messagesForwarded + proxy.stats().messagesDropped >= count + echo.received.length,
    )
    const pong = new Promise<void>((resolve) => client.socket.once('pong', () => resolve()))
    client.socket.ping()
    await pong
    const { messagesDropped } = proxy.stats()
    expect(messagesDropped).toBeGreaterThan(0)
    expect(echo.received.length).toBeLessThan(count)
    expect(client.messages.length).toBeLessThan(echo.received.length)
    // Every message that arrived is intact (its length identifies it, its bytes its index).
    for (const message of client.messages) {
      const index = (message.length - 100) / 50
      expect(message.every((byte) => byte === index % 256)).toBe(true)
    }
    expect(client.errors).toEqual([])
    proxy.dropRate(0)
    client.socket.send(Buffer.from('after'))
    await until(() => client.messages.at(-1)?.toString() === 'after')
  })

  it('cut() resets every connection and refuses new ones until restore()', async () => {
    const { proxy } = await setup()
    const client = await open(proxy.url)
    const code = closed(client.socket)
    proxy.cut()
    expect(await code).toBe(1006)
    await expect(connect(proxy.url)).rejects.toThrow()
    proxy.restore()
    const again = await open(proxy.url)
    again.socket.send('back')
    await until(() => again.messages.length === 1)
  })

  it('blackhole() holds traffic without closing, restore() delivers it in order', async () => {
    const { echo, proxy } = await setup()
    const client = await open(proxy.url)
    proxy.blackhole()
    for (const text of ['a', 'b', 'c']) client.socket.send(text)
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(echo.received).toEqual([])
    expect(client.socket.readyState).toBe(WebSocket.OPEN)
    proxy.restore()
    await until(() => client.messages.length === 3)
    expect(client.messages.map(String)).toEqual(['a', 'b', 'c'])
  })

  it('latency() delays each direction and keeps the order', async () => {
    const { proxy } = await setup()
    const client = await open(proxy.url)
    proxy.latency(40, 20)
    const start = Date.now()
    for (let i = 0; i < 20; i++) client.socket.send(String(i))
    await until(() => client.messages.length === 20)
    expect(Date.now() - start).toBeGreaterThanOrEqual(75)
    expect(client.messages.map(String)).toEqual(Array.from({ length: 20 }, (_, i) => String(i)))
  })

  it('a peer that does not speak HTTP loses its own connection, and nothing else', async () => {
    const { proxy } = await setup()
    const client = await open(proxy.url)
    const junk = await rawConnection(proxy.port)
    junk.socket.write(Buffer.alloc(70 * 1024, 0x41)) // no end of head in sight
    await within(junk.ended, 3000)
    client.socket.send('still here')
    await until(() => client.messages.length === 1)
    expect(proxy.stats().connectionsOpen).toBe(1)
  })

  it('a frame claiming an absurd length loses its own connection, and nothing else', async () => {
    const { proxy } = await setup()
    const client = await open(proxy.url)
    const peer = await rawConnection(proxy.port)
    peer.socket.write(
      'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    )
    await new Promise((resolve) => peer.socket.once('data', resolve)) // the 101
    // A masked binary frame whose 64-bit length says 2^60 bytes follow.
    peer.socket.write(Buffer.from([0x82, 0xff, 0x10, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]))
    await within(peer.ended, 3000)
    client.socket.send('still here')
    await until(() => client.messages.length === 1)
  })

  it('passes plain HTTP through untouched, request bodies included', async () => {
    const http = createHttpServer((request, response) => {
      let body = ''
      request.on('data', (chunk) => (body += chunk))
      request.on('end', () => response.end(JSON.stringify({ got: body })))
    })
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
    try {
      proxy = await createChaosProxy({ target: (http.address() as AddressInfo).port })
      const url = `http://127.0.0.1:${proxy.port}/api/session`
      for (let i = 0; i < 2; i++) {
        const response = await fetch(url, {
          method: 'POST',
          body: JSON.stringify({ userId: `user${i}` }),
          signal: AbortSignal.timeout(3000),
        })
        expect(await response.json()).toEqual({ got: `{"userId":"user${i}"}` })
      }
      const get = await fetch(url, { signal: AbortSignal.timeout(3000) })
      expect(await get.json()).toEqual({ got: '' })
    } finally {
      http.closeAllConnections()
      await new Promise<void>((resolve) => http.close(() => resolve()))
    }
  })

  it('counts a message as forwarded once written, not when held and then lost in a cut', async () => {
    const { echo, proxy } = await setup()
    const client = await open(proxy.url)
    proxy.blackhole()
    for (let i = 0; i < 5; i++) client.socket.send(`held ${i}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
    proxy.cut()
    proxy.restore()
    expect(echo.received).toEqual([])
    expect(proxy.stats().messagesForwarded).toBe(0)
    const again = await open(proxy.url)
    again.socket.send('through')
    await until(() => again.messages.length === 1)
    expect(proxy.stats().messagesForwarded).toBe(2) // there and back
  })

  it('latency() refuses what a timer cannot wait; a closed proxy refuses every call but stats()', async () => {
    const { proxy: chaos } = await setup()
    const invalid = expect.objectContaining({ code: 'invalid-argument' })
    for (const [ms, jitter] of [
      [Number.POSITIVE_INFINITY, 0],
      [2 ** 31, 0],
      [2 ** 31 - 10, 20],
      [Number.NaN, 0],
      [-1, 0],
      [10, -1],
    ]) {
      expect(() => chaos.latency(ms!, jitter)).toThrow(invalid)
    }
    expect(() => chaos.dropRate('0.5' as never)).toThrow(invalid)
    chaos.latency(2 ** 31 - 11, 10) // the longest a Node timer waits
    chaos.latency(0)
    await chaos.close()
    const isClosed = expect.objectContaining({ code: 'closed' })
    expect(() => chaos.cut()).toThrow(isClosed)
    expect(() => chaos.blackhole()).toThrow(isClosed)
    expect(() => chaos.restore()).toThrow(isClosed)
    expect(() => chaos.latency(10)).toThrow(isClosed)
    expect(() => chaos.dropRate(0.1)).toThrow(isClosed)
    expect(() => chaos.bandwidth(1000)).toThrow(isClosed)
    expect(chaos.stats().connectionsOpen).toBe(0)
    await chaos.close() // closing twice is harmless
  })

  it('bandwidth() reads slowly, so the sender feels back-pressure; Infinity lifts it', async () => {
    // A server that pushes; the proxy in front of its client reads at 64 KB/s.
    const pusher = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    await new Promise<void>((resolve) => pusher.once('listening', () => resolve()))
    let serverSide: WebSocket | undefined
    pusher.on('connection', (socket) => {
      serverSide = socket
    })
    try {
      const rate = 64 * 1024
      proxy = await createChaosProxy({ target: (pusher.address() as AddressInfo).port })
      proxy.bandwidth(rate)
      const client = await open(proxy.url)
      await until(() => serverSide !== undefined)
      const size = 64 * 1024
      const count = 128 // 8 MB: more than loopback's kernel buffers hold
      const start = Date.now()
      for (let i = 0; i < count; i++) serverSide!.send(Buffer.alloc(size, i))
      await new Promise((resolve) => setTimeout(resolve, 1000))
      const elapsed = Date.now() - start
      const received = client.messages.length * size
      // Never more than the rate allows, plus one read's worth (Node reads up to 64 KiB at a time).
      expect(received).toBeLessThanOrEqual((rate * elapsed) / 1000 + 2 * size)
      expect(serverSide!.bufferedAmount).toBeGreaterThan(0)
      proxy.bandwidth(Number.POSITIVE_INFINITY)
      await until(() => client.messages.length === count, 10_000)
      expect(client.messages.every((m, i) => m.length === size && m[0] === i % 256)).toBe(true)
      expect(() => proxy!.bandwidth(0)).toThrow(/bandwidth/)
    } finally {
      serverSide?.terminate()
      await new Promise<void>((resolve) => pusher.close(() => resolve()))
    }
  })
})

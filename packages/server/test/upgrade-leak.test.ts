import { connect } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from './helpers/server.js'

/** A raw HTTP Upgrade request; resolves with what the server answered once it closed the socket. */
function upgrade(server: TestServer, path: string): Promise<{ answer: string; closedInMs: number }> {
  const { port } = new URL(server.url)
  const started = Date.now()
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1')
    let answer = ''
    socket.on('data', (chunk) => {
      answer += chunk.toString()
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      clearTimeout(timer)
      resolve({ answer, closedInMs: Date.now() - started })
    })
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`the server kept the socket of an Upgrade to ${path} open; it answered:\n${answer}`))
    }, 3000)
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    )
  })
}

describe('an Upgrade request to a route that is no WebSocket', () => {
  let server: TestServer
  afterEach(async () => {
    await server?.close()
  })

  it('gets its HTTP answer and its socket closed, and close() is not held up', async () => {
    server = await startTestServer()
    for (const path of ['/no/such/route', '/api/conversations', '/healthz', '/sync/abc/x']) {
      const { answer } = await upgrade(server, path)
      expect(answer, path).toMatch(/^HTTP\/1\.1 (?!101)\d{3} /)
    }
    const closing = Date.now()
    await server.close()
    expect(Date.now() - closing).toBeLessThan(2000)
  })
})

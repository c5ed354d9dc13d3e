import { connect } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { startTestServer, type TestServer, tokenFor } from './helpers/server.js'

/** Slowloris: a request that trickles in is cut; an upgraded WebSocket is not an HTTP request. */

function slowRequest(server: TestServer, head: string) {
  const socket = connect(Number(new URL(server.url).port), '127.0.0.1')
  let closedAt: number | undefined
  socket.on('error', () => {})
  socket.on('close', () => {
    closedAt = Date.now()
  })
  socket.resume() // read the 408 and the FIN, or 'close' never comes
  socket.write(head)
  return { socket, closedAt: () => closedAt }
}

describe('HTTP timeouts', () => {
  let server: TestServer
  afterEach(async () => {
    await server?.close()
  })

  it('are on by default', async () => {
    server = await startTestServer()
    expect(server.app.server.requestTimeout).toBe(30_000)
    expect(server.app.server.headersTimeout).toBe(10_000)
    expect(server.app.server.keepAliveTimeout).toBeGreaterThan(0)
  })

  it('cut slow headers and slow bodies, but not an open WebSocket', async () => {
    server = await startTestServer({ limits: { requestTimeoutMs: 400, headersTimeoutMs: 300 } })
    const id = await server.conversation('alice', { bob: 'member' })
    const ws = new WebSocket(`${server.wsUrl}/sync/${id}?token=${await tokenFor('alice')}`)
    let wsClosed = false
    ws.on('close', () => {
      wsClosed = true
    })
    await new Promise((resolve) => ws.once('message', resolve))
    const started = Date.now()
    const headers = slowRequest(server, 'GET /healthz HTTP/1.1\r\nHost: x\r\n')
    const body = slowRequest(
      server,
      'POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"userId":"',
    )
    await new Promise((resolve) => setTimeout(resolve, 2000))
    expect(headers.closedAt(), 'slow headers').toBeDefined()
    expect(body.closedAt(), 'slow body').toBeDefined()
    expect(headers.closedAt()! - started).toBeLessThan(2000)
    expect(wsClosed).toBe(false)
    // Still live: it answers a ping.
    ws.ping()
    await new Promise((resolve) => ws.once('pong', resolve))
    ws.close()
  })
})

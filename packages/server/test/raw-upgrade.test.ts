import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { socketRouteOf, tokenOf } from '../src/plugins/socket-routes.js'
import { startTestServer, type TestServer, tokenFor } from './helpers/server.js'

/** The sockets' upgrades skip Fastify (raw-upgrade.ts): what Fastify gave them, they still get. */

describe('socket routes and tokens, read from the raw URL as Fastify read them', () => {
  it('match /sync and /sync/<id> only, the id percent-decoded', () => {
    expect(socketRouteOf('/sync?token=x')).toEqual({ kind: 'multiplexed' })
    expect(socketRouteOf('/sync/abc?token=x')).toEqual({ kind: 'conversation', conversationId: 'abc' })
    expect(socketRouteOf('/sync/a%20b')).toEqual({ kind: 'conversation', conversationId: 'a b' })
    // Left to Fastify: its 404 or 400, as before.
    for (const url of ['/sync/', '/sync/a/b', '/sync/%zz', `/sync/${'x'.repeat(101)}`, '/syncx', '/api/sync'])
      expect(socketRouteOf(url), url).toBeUndefined()
  })

  it('take ?token= however its key is spelled, and no token when given twice', () => {
    expect(tokenOf('/sync?token=a.b.c')).toBe('a.b.c')
    expect(tokenOf('/sync?%74oken=a.b.c')).toBe('a.b.c')
    expect(tokenOf('/sync?x=1&token=a.b.c')).toBe('a.b.c')
    expect(tokenOf('/sync?token=a&token=b')).toBeUndefined()
    expect(tokenOf('/sync?token=')).toBeUndefined()
    expect(tokenOf('/sync')).toBeUndefined()
  })
})

describe('a socket upgrade', () => {
  let server: TestServer
  const sockets: WebSocket[] = []
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.terminate()
    await server?.close()
  })

  /** How an upgrade ended: open (with the 101's headers), or closed with a code, or refused over HTTP. */
  function open(path: string, headers: Record<string, string> = {}) {
    const socket = new WebSocket(`${server.wsUrl}${path}`, { headers })
    sockets.push(socket)
    let upgradeHeaders: Record<string, unknown> = {}
    socket.on('upgrade', (response) => {
      upgradeHeaders = response.headers
    })
    return new Promise<{ outcome: string; headers: Record<string, unknown> }>((resolve) => {
      socket.on('open', () => setTimeout(() => resolve({ outcome: 'open', headers: upgradeHeaders }), 200))
      socket.on('close', (code) => resolve({ outcome: String(code), headers: upgradeHeaders }))
      socket.on('unexpected-response', (_request, response) =>
        resolve({ outcome: `HTTP ${response.statusCode}`, headers: response.headers }),
      )
      socket.on('error', () => {})
    })
  }

  it('echoes its request id on the 101: a proxy’s when it looks like one', async () => {
    server = await startTestServer()
    const token = await tokenFor('alice')
    const traced = await open(`/sync?token=${token}`, { 'x-request-id': 'trace-4bf92f3577b3' })
    expect(traced).toMatchObject({ outcome: 'open', headers: { 'x-request-id': 'trace-4bf92f3577b3' } })
    const pasted = await open(`/sync?token=${token}`, { 'x-request-id': token })
    expect(pasted.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
  })

  it('sees the client address and host through a trusted proxy, as REST does', async () => {
    server = await startTestServer({
      trustProxy: true,
      allowedOrigins: [],
      limits: { maxSocketsPerIp: 1 },
    })
    const token = await tokenFor('alice')
    const from = (ip: string) => ({ 'x-forwarded-for': ip })
    expect((await open(`/sync?token=${token}`, from('203.0.113.7'))).outcome).toBe('open')
    expect((await open(`/sync?token=${token}`, from('203.0.113.8'))).outcome, 'another client').toBe('open')
    expect((await open(`/sync?token=${token}`, from('203.0.113.7'))).outcome, 'the same client').toBe('4429')
    // The page's origin is the public host the proxy names, not the address it reached us on.
    const page = { origin: 'https://chat.example', 'x-forwarded-host': 'chat.example' }
    expect((await open(`/sync?token=${token}`, { ...page, ...from('203.0.113.9') })).outcome).toBe('open')
    expect((await open(`/sync?token=${token}`, { origin: 'https://chat.example' })).outcome).toBe('HTTP 403')
  })
})

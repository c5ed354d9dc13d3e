import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { createServer, type ServerOptions } from '../src/index.js'
import { JWT_SECRET, startTestServer, type TestServer, tokenFor } from './helpers/server.js'

/** Issue 16: what a Fastify service on the internet is expected to do about the web side. */

const ALLOWED = 'http://app.example:5173'
const FOREIGN = 'https://evil.example'
const ERROR_BODY = { error: { code: expect.any(String), message: expect.any(String) } }

/** How an upgrade went: opened (then closed by us), or refused over HTTP with a status and body. */
const upgrade = (url: string, origin?: string) =>
  new Promise<{ opened: true } | { opened: false; status: number; body: unknown }>((resolve, reject) => {
    const socket = new WebSocket(url, origin === undefined ? {} : { origin })
    socket.on('open', () => {
      socket.close()
      resolve({ opened: true })
    })
    socket.on('unexpected-response', (_request, response) => {
      let text = ''
      response.on('data', (chunk: Buffer) => {
        text += chunk.toString()
      })
      response.on('end', () =>
        resolve({ opened: false, status: response.statusCode ?? 0, body: JSON.parse(text) }),
      )
    })
    socket.on('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error)
    })
  })

const injectServer = (options: ServerOptions = {}) =>
  createServer({ store: 'memory', logger: false, webRoot: false, jwtSecret: JWT_SECRET, ...options })

describe('Origin allow-list on the sockets (a real server)', () => {
  let server: TestServer
  let id: string
  let token: string
  beforeAll(async () => {
    server = await startTestServer({ allowedOrigins: [ALLOWED] })
    id = await server.conversation('alice', { bob: 'member' })
    token = await tokenFor('alice')
  })
  afterAll(() => server.close())

  it('refuses a foreign Origin on /sync/<id> and /sync with 403 and the JSON error, before any upgrade', async () => {
    for (const path of [`/sync/${id}`, '/sync']) {
      expect(await upgrade(`${server.wsUrl}${path}?token=${token}`, FOREIGN)).toEqual({
        opened: false,
        status: 403,
        body: { error: { code: 'origin-not-allowed', message: expect.any(String) } },
      })
      expect(
        await upgrade(`${server.wsUrl}${path}?token=${token}`, 'null'),
        'a sandboxed page',
      ).toMatchObject({
        status: 403,
      })
    }
    expect(await (await fetch(`${server.url}/metrics`)).text(), 'no socket was opened').toMatch(
      /^ticks_sockets 0$/m,
    )
  })

  it('opens for a listed Origin, the server’s own, and a client that sends none', async () => {
    for (const path of [`/sync/${id}`, '/sync']) {
      const url = `${server.wsUrl}${path}?token=${token}`
      expect(await upgrade(url, ALLOWED), 'listed').toEqual({ opened: true })
      expect(await upgrade(url, server.url), 'same origin').toEqual({ opened: true })
      expect(await upgrade(url), 'no Origin (Node, the stock y-websocket client)').toEqual({ opened: true })
    }
  })
})

describe('CORS and the Origin check on REST (inject)', () => {
  let app: FastifyInstance
  let authorization: string
  beforeAll(async () => {
    app = await injectServer({ allowedOrigins: [`${ALLOWED}/`] }) // a trailing slash is forgiven
    authorization = `Bearer ${await tokenFor('alice')}`
  })
  afterAll(() => app.close())

  it('answers a listed origin with CORS headers, preflight included', async () => {
    const preflight = await app.inject({
      method: 'OPTIONS',
      url: '/api/conversations',
      headers: {
        origin: ALLOWED,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    })
    expect(preflight.statusCode).toBe(204)
    expect(preflight.headers['access-control-allow-origin']).toBe(ALLOWED)
    expect(String(preflight.headers['access-control-allow-headers'])).toMatch(/authorization/)
    const listed = await app.inject({
      url: '/api/conversations',
      headers: { origin: ALLOWED, authorization },
    })
    expect(listed.statusCode).toBe(200)
    expect(listed.headers['access-control-allow-origin']).toBe(ALLOWED)
  })

  it('refuses a foreign origin with 403 and the JSON error, and no CORS header; preflight too', async () => {
    for (const request of [
      { method: 'GET' as const, url: '/api/conversations', headers: { origin: FOREIGN, authorization } },
      {
        method: 'OPTIONS' as const,
        url: '/api/conversations',
        headers: { origin: FOREIGN, 'access-control-request-method': 'POST' },
      },
      {
        method: 'POST' as const,
        url: '/api/session',
        headers: { origin: FOREIGN },
        payload: { userId: 'x' },
      },
    ]) {
      const response = await app.inject(request)
      expect(response.statusCode, request.method).toBe(403)
      expect(response.json()).toEqual({ error: { code: 'origin-not-allowed', message: expect.any(String) } })
      expect(response.headers['access-control-allow-origin']).toBeUndefined()
    }
  })

  it('serves same-origin and Origin-less requests without CORS headers', async () => {
    const same = await app.inject({
      url: '/api/conversations',
      headers: { origin: 'http://localhost:80', host: 'localhost', authorization },
    })
    expect(same.statusCode).toBe(200)
    expect(same.headers['access-control-allow-origin']).toBeUndefined()
    // Behind a proxy that ends TLS: an https page, a request that arrives as http to the same host.
    const proxied = await app.inject({
      url: '/api/conversations',
      headers: { origin: 'https://chat.example', host: 'chat.example', authorization },
    })
    expect(proxied.statusCode).toBe(200)
    const none = await app.inject({ url: '/api/conversations', headers: { authorization } })
    expect(none.statusCode).toBe(200)
  })

  it("'*' lets every origin in, and a malformed entry stops the start", async () => {
    const open = await injectServer({ allowedOrigins: ['*'] })
    const response = await open.inject({ url: '/healthz', headers: { origin: FOREIGN } })
    expect(response.statusCode).toBe(200)
    expect(response.headers['access-control-allow-origin']).toBe('*')
    await open.close()
    await expect(injectServer({ allowedOrigins: ['app.example'] })).rejects.toThrow(/not an origin/)
    await expect(injectServer({ allowedOrigins: ['https://app.example/path'] })).rejects.toThrow(
      /scheme:\/\/host\[:port\] only/,
    )
  })
})

describe('security headers (curl -I /)', () => {
  let root: string
  let app: FastifyInstance
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'ticks-headers-'))
    await writeFile(join(root, 'index.html'), '<!doctype html><title>Ticks</title>')
    app = await injectServer({ webRoot: root })
  })
  afterAll(async () => {
    await app.close()
    await rm(root, { recursive: true, force: true })
  })

  it('the app, an API answer and a 404 carry helmet’s headers and a CSP that lets the page reach its socket', async () => {
    for (const url of ['/', '/c/some-conversation', '/api/conversations', '/api/nothing']) {
      const { headers } = await app.inject({ method: url === '/' ? 'HEAD' : 'GET', url })
      expect(headers['x-content-type-options'], url).toBe('nosniff')
      expect(headers['x-frame-options'], url).toBe('SAMEORIGIN')
      expect(headers['referrer-policy'], url).toBe('no-referrer')
      expect(headers['strict-transport-security'], url).toMatch(/max-age=\d+/)
      expect(headers['cross-origin-opener-policy'], url).toBe('same-origin')
      expect(headers['x-request-id'], url).toEqual(expect.any(String))
      const csp = String(headers['content-security-policy'])
      for (const directive of [
        "default-src 'self'",
        "script-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
      ])
        expect(csp, url).toContain(directive)
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|upgrade-insecure-requests/)
    }
  })
})

describe('REST rate limits', () => {
  let app: FastifyInstance
  // trustProxy, so that each test client can say which address it is.
  beforeAll(async () => {
    app = await injectServer({
      trustProxy: true,
      limits: { restRequestsPerWindow: 3, restRateWindowMs: 60_000 },
    })
  })
  afterAll(() => app.close())
  const from = (ip: string, url = '/api/conversations') =>
    app.inject({ url, headers: { 'x-forwarded-for': ip, authorization: 'Bearer nonsense' } })

  it('answers 429 with the JSON error and Retry-After past the limit, per client address', async () => {
    for (let i = 0; i < 3; i++) expect((await from('203.0.113.7')).statusCode).toBe(401)
    const limited = await from('203.0.113.7')
    expect(limited.statusCode).toBe(429)
    expect(limited.json()).toEqual({
      error: { code: 'rate-limited', message: expect.stringMatching(/retry in/) },
    })
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
    expect((await from('203.0.113.8')).statusCode, 'another address').toBe(401)
  })

  it('never limits /healthz, /readyz, /metrics, nor loopback', async () => {
    for (const url of ['/healthz', '/readyz', '/metrics'])
      for (let i = 0; i < 5; i++) expect((await from('203.0.113.9', url)).statusCode, url).toBe(200)
    for (let i = 0; i < 5; i++)
      expect((await app.inject({ url: '/api/conversations' })).statusCode, 'loopback').toBe(401)
  })

  it('0 turns the limit off', async () => {
    const unlimited = await injectServer({ trustProxy: true, limits: { restRequestsPerWindow: 0 } })
    for (let i = 0; i < 5; i++)
      expect(
        (await unlimited.inject({ url: '/api/conversations', headers: { 'x-forwarded-for': '203.0.113.7' } }))
          .statusCode,
      ).toBe(401)
    await unlimited.close()
  })
})

describe('errors outside the routes keep the JSON body', () => {
  let app: FastifyInstance
  afterEach(() => app.close())

  it('a URL Fastify cannot decode, and a bad body on an unknown path', async () => {
    app = await injectServer()
    const badUrl = await app.inject({ url: '/api/conversations/%E0%A4%A' })
    expect(badUrl.statusCode).toBe(400)
    expect(badUrl.json()).toEqual(ERROR_BODY)
    const badBody = await app.inject({
      method: 'POST',
      url: '/nowhere',
      headers: { 'content-type': 'application/json' },
      payload: '{"unterminated',
    })
    expect(badBody.statusCode).toBeGreaterThanOrEqual(400)
    expect(badBody.statusCode).toBeLessThan(500)
    expect(badBody.json()).toEqual(ERROR_BODY)
  })
})

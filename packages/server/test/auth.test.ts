import { createServer as createHttpServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { createServer } from '../src/index.js'
import { startTestServer, type TestServer } from './helpers/server.js'

/** An identity provider on 127.0.0.1: one RS256 key published as a JWKS, and a token minter. */
async function identityProvider() {
  const { publicKey, privateKey } = await generateKeyPair('RS256')
  const jwk = { ...(await exportJWK(publicKey)), kid: 'test-key', alg: 'RS256', use: 'sig' }
  let fetches = 0
  const http: Server = createHttpServer((_request, response) => {
    fetches++
    response.writeHead(200, { 'content-type': 'application/json' })
    response.end(JSON.stringify({ keys: [jwk] }))
  })
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  const { port } = http.address() as AddressInfo
  return {
    jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    fetches: () => fetches,
    token: (userId: string) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'RS256', kid: 'test-key' })
        .setSubject(userId)
        .setExpirationTime('5m')
        .sign(privateKey),
    close: () => new Promise<void>((resolve) => http.close(() => resolve())),
  }
}

const closeCode = (url: string) =>
  new Promise<number>((resolve) => {
    const socket = new WebSocket(url)
    socket.on('close', (code) => resolve(code))
    socket.on('error', () => {})
  })

describe('auth modes', () => {
  let server: TestServer | undefined
  let provider: Awaited<ReturnType<typeof identityProvider>> | undefined
  afterEach(async () => {
    await server?.close()
    await provider?.close()
    server = undefined
    provider = undefined
  })

  it('JWKS: accepts tokens signed by the published key, refuses others, offers no dev sessions', async () => {
    provider = await identityProvider()
    server = await startTestServer({ jwtSecret: undefined, jwksUrl: provider.jwksUrl })
    const alice = await provider.token('alice')
    const created = await fetch(`${server.url}/api/conversations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${alice}` },
      body: JSON.stringify({ title: 'Signed in elsewhere', members: ['bob'] }),
    })
    expect(created.status).toBe(201)
    expect(provider.fetches()).toBeGreaterThan(0)
    const { id } = (await created.json()) as { id: string }

    const stranger = await identityProvider() // same claims, another key
    const forged = await stranger.token('alice')
    await stranger.close()
    const refused = await fetch(`${server.url}/api/conversations`, {
      headers: { authorization: `Bearer ${forged}` },
    })
    expect(refused.status).toBe(401)
    expect(await refused.json()).toEqual({ error: { code: expect.any(String), message: expect.any(String) } })

    expect(await closeCode(`${server.wsUrl}/sync/${id}?token=${forged}`)).toBe(4401)
    const session = await fetch(`${server.url}/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'mallory' }),
    })
    expect(session.status).toBe(404)
  })

  it('secret: an HS256 token with the configured secret works, one with another secret is 401', async () => {
    server = await startTestServer({ jwtSecret: 'a-secret-shared-with-the-app-server' })
    const sign = (secret: string) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('alice')
        .sign(new TextEncoder().encode(secret))
    const ok = await fetch(`${server.url}/api/conversations`, {
      headers: { authorization: `Bearer ${await sign('a-secret-shared-with-the-app-server')}` },
    })
    expect(ok.status).toBe(200)
    const wrong = await fetch(`${server.url}/api/conversations`, {
      headers: { authorization: `Bearer ${await sign('not-the-secret')}` },
    })
    expect(wrong.status).toBe(401)
  })
})

describe('auth options of createServer', () => {
  it('an empty or short secret is an error, not dev mode; so is a secret with a JWKS URL', async () => {
    const create = (options: { jwtSecret?: string; jwksUrl?: string }) =>
      createServer({ store: 'memory', logger: false, webRoot: false, ...options })
    await expect(create({ jwtSecret: '' })).rejects.toThrow(/empty/)
    await expect(create({ jwtSecret: 'x'.repeat(31) })).rejects.toThrow(/at least 32 bytes/)
    await expect(create({ jwksUrl: '' })).rejects.toThrow(/empty/)
    await expect(create({ jwtSecret: 'x'.repeat(32), jwksUrl: 'https://id.example/jwks' })).rejects.toThrow(
      /not both/,
    )
    const app = await create({ jwtSecret: 'x'.repeat(32) })
    expect(
      (await app.inject({ method: 'POST', url: '/api/session', payload: { userId: 'a' } })).statusCode,
    ).toBe(404)
    await app.close()
  })
})

describe('dev sessions (--dev-sessions: the local cluster signs in by name)', () => {
  const secret = 'a-secret-that-every-node-of-the-cluster-shares'

  it('POST /api/session issues tokens signed with the shared secret, which another server with it accepts', async () => {
    let logged = ''
    const log = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logged += chunk.toString()
        done()
      },
    })
    const issuer = await createServer({
      store: 'memory',
      webRoot: false,
      jwtSecret: secret,
      devSessions: true,
      logger: { level: 'warn', stream: log },
    })
    const other = await createServer({ store: 'memory', logger: false, webRoot: false, jwtSecret: secret })
    const stranger = await createServer({
      store: 'memory',
      logger: false,
      webRoot: false,
      jwtSecret: 'another-secret-of-another-deployment',
    })
    try {
      expect(logged).toMatch(/DEV SESSIONS.*anyone .* token for any user.*locally only/)
      const session = await issuer.inject({
        method: 'POST',
        url: '/api/session',
        payload: { userId: 'alice' },
      })
      expect(session.statusCode).toBe(200)
      const { token, userId } = session.json() as { token: string; userId: string }
      expect(userId).toBe('alice')
      const headers = { authorization: `Bearer ${token}` }
      const created = await other.inject({
        method: 'POST',
        url: '/api/conversations',
        headers,
        payload: { title: 'Signed in on another node', members: ['bob'] },
      })
      expect(created.statusCode).toBe(201)
      const { id } = created.json() as { id: string }
      const read = await other.inject({ url: `/api/conversations/${id}`, headers })
      expect(read.json()).toMatchObject({ members: { alice: { role: 'owner' } } })
      expect((await stranger.inject({ url: '/api/conversations', headers })).statusCode).toBe(401)
      // Only the node that was asked to offers sessions.
      expect(
        (await other.inject({ method: 'POST', url: '/api/session', payload: { userId: 'mallory' } }))
          .statusCode,
      ).toBe(404)
    } finally {
      await Promise.all([issuer.close(), other.close(), stranger.close()])
    }
  })

  it('are refused with a JWKS URL, which gives the server no key to sign with', async () => {
    await expect(
      createServer({
        store: 'memory',
        logger: false,
        webRoot: false,
        jwksUrl: 'https://id.example/jwks.json',
        devSessions: true,
      }),
    ).rejects.toThrow(/no key to sign with/)
  })
})

describe('JWT claims: audience, issuer and clock skew', () => {
  const secret = 'a-secret-shared-with-the-identity-provider'
  const now = () => Math.floor(Date.now() / 1000)
  const sign = (claims: { aud?: string; iss?: string; nbf?: number; exp?: number }) => {
    const token = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('alice')
    if (claims.aud !== undefined) token.setAudience(claims.aud)
    if (claims.iss !== undefined) token.setIssuer(claims.iss)
    if (claims.nbf !== undefined) token.setNotBefore(claims.nbf)
    if (claims.exp !== undefined) token.setExpirationTime(claims.exp)
    return token.sign(new TextEncoder().encode(secret))
  }
  let server: TestServer | undefined
  afterEach(async () => {
    await server?.close()
    server = undefined
  })
  const listWith = async (token: string) => {
    const response = await fetch(`${server!.url}/api/conversations`, {
      headers: { authorization: `Bearer ${token}` },
    })
    return { status: response.status, body: (await response.json()) as unknown }
  }

  it('a token for another audience or from another issuer is refused: 401 with the reason, 4401 on both sockets', async () => {
    server = await startTestServer({
      jwtSecret: secret,
      jwtAudience: ['ticks', 'ticks-staging'],
      jwtIssuer: 'https://id.example',
    })
    const good = await sign({ aud: 'ticks-staging', iss: 'https://id.example' })
    expect((await listWith(good)).status).toBe(200)
    const id = await (async () => {
      const created = await fetch(`${server!.url}/api/conversations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${good}` },
        body: JSON.stringify({ title: 'Claims', members: ['bob'] }),
      })
      return ((await created.json()) as { id: string }).id
    })()
    for (const [token, reason] of [
      [await sign({ aud: 'another-app', iss: 'https://id.example' }), 'token audience not accepted'],
      [await sign({ iss: 'https://id.example' }), 'token audience not accepted'], // none at all
      [await sign({ aud: 'ticks', iss: 'https://evil.example' }), 'token issuer not accepted'],
    ] as const) {
      expect(await listWith(token)).toEqual({
        status: 401,
        body: { error: { code: 'unauthorized', message: reason } },
      })
      expect(await closeCode(`${server.wsUrl}/sync/${id}?token=${token}`)).toBe(4401)
      expect(await closeCode(`${server.wsUrl}/sync?token=${token}`)).toBe(4401)
    }
  })

  it('tolerates a little clock skew (30 s by default) for nbf and exp, not more; the tolerance is an option', async () => {
    server = await startTestServer({ jwtSecret: secret })
    expect((await listWith(await sign({ nbf: now() + 10 }))).status, 'minted on a clock 10 s ahead').toBe(200)
    expect((await listWith(await sign({ exp: now() - 10 }))).status, 'expired 10 s ago').toBe(200)
    expect(await listWith(await sign({ nbf: now() + 120 }))).toMatchObject({
      status: 401,
      body: { error: { message: 'token not yet valid' } },
    })
    expect(await listWith(await sign({ exp: now() - 120 }))).toMatchObject({
      status: 401,
      body: { error: { message: 'token expired' } },
    })
    await server.close()
    server = await startTestServer({ jwtSecret: secret, jwtClockToleranceSeconds: 0 })
    expect((await listWith(await sign({ nbf: now() + 10 }))).status).toBe(401)
  })

  it('dev sessions sign with the configured audience and issuer, so their tokens pass', async () => {
    const app = await createServer({
      store: 'memory',
      logger: false,
      webRoot: false,
      jwtSecret: secret,
      devSessions: true,
      jwtAudience: 'ticks',
      jwtIssuer: 'https://id.example',
    })
    const session = await app.inject({ method: 'POST', url: '/api/session', payload: { userId: 'alice' } })
    const { token } = session.json() as { token: string }
    const listed = await app.inject({
      url: '/api/conversations',
      headers: { authorization: `Bearer ${token}` },
    })
    expect(listed.statusCode).toBe(200)
    await app.close()
  })

  it('an empty audience or issuer, or a negative tolerance, is an error', async () => {
    const create = (options: {
      jwtAudience?: string
      jwtIssuer?: string
      jwtClockToleranceSeconds?: number
    }) => createServer({ store: 'memory', logger: false, webRoot: false, jwtSecret: secret, ...options })
    await expect(create({ jwtAudience: '' })).rejects.toThrow(/empty JWT audience or issuer/)
    await expect(create({ jwtIssuer: '' })).rejects.toThrow(/empty JWT audience or issuer/)
    await expect(create({ jwtClockToleranceSeconds: -1 })).rejects.toThrow(/clock tolerance/)
  })
})

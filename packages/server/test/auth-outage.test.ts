import { createServer as createHttpServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { startTestServer, type TestServer } from './helpers/server.js'

/** An identity provider on 127.0.0.1 whose JWKS endpoint can be taken down (HTTP 500). */
async function flakyProvider() {
  const { publicKey, privateKey } = await generateKeyPair('RS256')
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }
  const state = { down: true }
  const http: Server = createHttpServer((_request, response) => {
    if (state.down) {
      response.writeHead(500).end('identity provider is down')
      return
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }))
  })
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  return {
    state,
    jwksUrl: `http://127.0.0.1:${(http.address() as AddressInfo).port}/jwks.json`,
    token: (userId: string) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setSubject(userId)
        .setExpirationTime('5m')
        .sign(privateKey),
    close: () => new Promise<void>((resolve) => http.close(() => resolve())),
  }
}

const closeOf = (url: string) =>
  new Promise<{ code: number; reason: string }>((resolve) => {
    const socket = new WebSocket(url)
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }))
    socket.on('error', () => {})
  })

describe('an identity-provider outage', () => {
  let server: TestServer | undefined
  let provider: Awaited<ReturnType<typeof flakyProvider>> | undefined
  afterEach(async () => {
    await server?.close()
    await provider?.close()
    server = provider = undefined
  })

  it('is not a bad token: REST answers 503 and sockets close 1013 (retry later), never 401/4401', async () => {
    provider = await flakyProvider()
    server = await startTestServer({ jwtSecret: undefined, jwksUrl: provider.jwksUrl })
    const token = await provider.token('alice')
    const create = () =>
      fetch(`${server!.url}/api/conversations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ title: 'During the outage', members: ['bob'] }),
      })

    const refused = await create()
    expect(refused.status).toBe(503)
    expect(await refused.json()).toEqual({
      error: { code: 'auth-unavailable', message: 'cannot check the token now: try again later' },
    })
    expect(await closeOf(`${server.wsUrl}/sync/any-id?token=${token}`)).toEqual({
      code: 1013,
      reason: 'cannot check the token now: try again later',
    })
    // A token the provider could never vouch for is still a plain 401, outage or not.
    const forged = await fetch(`${server.url}/api/conversations`, {
      headers: { authorization: 'Bearer not.a.jwt' },
    })
    expect(forged.status).toBe(401)

    provider.state.down = false
    expect((await create()).status).toBe(201)
  })
})

import { createServer as createHttpServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { MemoryStore } from '../src/index.js'
import { startTestServer, type TestServer, tokenFor } from './helpers/server.js'

/** Every socket the server refuses is counted in ticks_refused_total, with its close code. */

async function metric(server: TestServer, line: string): Promise<number> {
  const text = (await server.app.inject({ url: '/metrics' })).body
  const found = text.split('\n').find((l) => l.startsWith(`${line} `))
  return found ? Number(found.slice(line.length + 1)) : 0
}

function closeOf(url: string, send: Uint8Array[] = []) {
  return new Promise<{ code: number; reason: string }>((resolve) => {
    const socket = new WebSocket(url)
    socket.on('error', () => {})
    socket.on('open', () => {
      for (const frame of send) socket.send(frame)
    })
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }))
  })
}

class FlakyStore extends MemoryStore {
  readonly failing = new Set<string>()
  override async load(docId: string) {
    if (this.failing.has(docId)) throw new Error('disk on fire')
    return super.load(docId)
  }
}

/** A JWKS endpoint that never answers: auth stays pending while frames arrive. */
async function hangingJwks(): Promise<{ url: string; close(): Promise<void> }> {
  const http: Server = createHttpServer(() => {})
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  const { port } = http.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/jwks.json`,
    close: () => {
      http.closeAllConnections()
      return new Promise<void>((resolve) => http.close(() => resolve()))
    },
  }
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
/** Well-formed, signed by nobody, with a key id the JWKS must be fetched for. */
const unverifiedToken = `${b64({ alg: 'RS256', kid: 'k' })}.${b64({ sub: 'x' })}.AAAA`

/** A y-websocket sync frame (0 = sync; 1 = step 2, 2 = update) of `bytes` bytes. */
const syncFrame = (kind: 1 | 2, bytes: number) => {
  const frame = new Uint8Array(bytes)
  frame[0] = 0
  frame[1] = kind
  return frame
}

describe('refusals are counted', () => {
  let server: TestServer | undefined
  let jwks: Awaited<ReturnType<typeof hangingJwks>> | undefined
  afterEach(async () => {
    await server?.close()
    await jwks?.close()
    server = undefined
    jwks = undefined
  })

  it('4404 no such conversation, 1013 too many rooms, 1011 load failed', async () => {
    const store = new FlakyStore()
    server = await startTestServer({ store, maxRooms: 1 })
    const token = await tokenFor('alice')
    expect((await closeOf(`${server.wsUrl}/sync/nosuch?token=${token}`)).code).toBe(4404)
    expect(await metric(server, 'ticks_refused_total{close_code="4404",code="not-found"}')).toBe(1)

    const broken = await server.conversation('alice', {})
    store.failing.add(broken)
    expect((await closeOf(`${server.wsUrl}/sync/${broken}?token=${token}`)).code).toBe(1011)
    expect(await metric(server, 'ticks_refused_total{close_code="1011",code="load-failed"}')).toBe(1)

    const open = await server.conversation('alice', {})
    const holder = new WebSocket(`${server.wsUrl}/sync/${open}?token=${token}`)
    await new Promise((resolve) => holder.once('message', resolve))
    const other = await server.conversation('alice', {})
    expect((await closeOf(`${server.wsUrl}/sync/${other}?token=${token}`)).code).toBe(1013)
    expect(await metric(server, 'ticks_refused_total{close_code="1013",code="busy"}')).toBe(1)
    holder.close()
  })

  it('before auth: bytes are capped in total (4413) and per frame at the live limit', async () => {
    jwks = await hangingJwks()
    server = await startTestServer({ jwtSecret: undefined, jwksUrl: jwks.url })
    const url = `${server.wsUrl}/sync/abc?token=${unverifiedToken}`
    // Two frames of 700 KB: each under the 1 MiB live limit, together over the 1 MiB queue.
    const total = await closeOf(url, [syncFrame(2, 700_000), syncFrame(2, 700_000)])
    expect(total.code).toBe(4413)
    // A 2 MiB sync step 2 is within its own 16 MiB limit once connected, but not before.
    const step2 = await closeOf(url, [syncFrame(1, 2 * 1024 * 1024)])
    expect(step2.code).toBe(4413)
    expect(await metric(server, 'ticks_refused_total{close_code="4413",code="queued-too-large"}')).toBe(2)
  })

  it('a foreign Origin refused on REST is counted as 403 origin-not-allowed; listed and Origin-less ones are not', async () => {
    server = await startTestServer({ allowedOrigins: ['https://chat.example'] })
    const line = 'ticks_refused_total{close_code="403",code="origin-not-allowed"}'
    const headers = { authorization: `Bearer ${await tokenFor('alice')}` }
    for (const origin of ['https://evil.example', 'null']) {
      const refused = await fetch(`${server.url}/api/conversations`, { headers: { ...headers, origin } })
      expect(refused.status).toBe(403)
      expect(await refused.json()).toMatchObject({ error: { code: 'origin-not-allowed' } })
    }
    expect(await metric(server, line)).toBe(2)
    const listed = await fetch(`${server.url}/api/conversations`, {
      headers: { ...headers, origin: 'https://chat.example' },
    })
    expect(listed.status).toBe(200)
    expect((await fetch(`${server.url}/api/conversations`, { headers })).status).toBe(200)
    expect(await metric(server, line)).toBe(2)
    // A socket's upgrade from a foreign Origin is refused before the handshake, and counted too.
    const token = await tokenFor('alice')
    for (const path of ['/sync', '/sync/some-conversation']) {
      const status = await new Promise<number>((resolve) => {
        const socket = new WebSocket(`${server!.wsUrl}${path}?token=${token}`, {
          headers: { origin: 'https://evil.example' },
        })
        socket.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0))
        socket.on('error', () => {})
      })
      expect(status).toBe(403)
    }
    expect(await metric(server, line)).toBe(4)
  })

  it('before auth: too many frames is 4429, counted', async () => {
    jwks = await hangingJwks()
    server = await startTestServer({ jwtSecret: undefined, jwksUrl: jwks.url })
    const frames = Array.from({ length: 70 }, () => syncFrame(2, 10))
    expect((await closeOf(`${server.wsUrl}/sync/abc?token=${unverifiedToken}`, frames)).code).toBe(4429)
    expect(await metric(server, 'ticks_refused_total{close_code="4429",code="queued-too-many"}')).toBe(1)
  })
})

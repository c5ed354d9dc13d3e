import type { IncomingMessage } from 'node:http'
import { connect } from 'node:net'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { type MuxClient, muxClient } from './helpers/mux-client.js'
import { startTestServer, type TestServer, tokenFor, until } from './helpers/server.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/** Collect until every ref is cleared, or give up after a few rounds; resolves with those left. */
async function collected(refs: WeakRef<object>[]): Promise<number> {
  for (let round = 0; round < 10; round++) {
    // A WeakRef's target lives at least until the job that made or read it ends: yield between.
    await new Promise((resolve) => setTimeout(resolve, 20))
    gc()
    if (refs.every((ref) => ref.deref() === undefined)) return 0
  }
  return refs.filter((ref) => ref.deref() !== undefined).length
}

/** An Upgrade to a path that is no socket's, answered over HTTP; resolves when its socket closed. */
function upgradeAnsweredOverHttp(server: TestServer, path: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(Number(new URL(server.url).port), '127.0.0.1')
    socket.on('error', () => {})
    socket.on('close', () => resolve())
    socket.resume()
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    )
  })
}

/**
 * Issue 14, "a server as lean as the relays": an open socket keeps nothing of the HTTP request
 * that opened it. Through @fastify/websocket every idle socket held its upgrade's Fastify request
 * and reply, and with them Node's IncomingMessage and ServerResponse, for its whole life.
 */
describe('an open socket', () => {
  let server: TestServer
  const sockets: WebSocket[] = []
  const muxes: MuxClient[] = []
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.terminate()
    for (const mux of muxes.splice(0)) mux.close()
    await server?.close()
  })

  it('keeps nothing of its upgrade request once connected (/sync/<id> and /sync)', async () => {
    server = await startTestServer()
    const id = await server.conversation('alice', { bob: 'member' })
    const upgrades: WeakRef<IncomingMessage>[] = []
    server.app.server.on('upgrade', (request: IncomingMessage) => upgrades.push(new WeakRef(request)))

    const token = await tokenFor('bob')
    for (let i = 0; i < 20; i++) {
      const socket = new WebSocket(`${server.wsUrl}/sync/${id}?token=${token}`)
      sockets.push(socket)
      // The room's sync step 1: the token was checked and the room joined.
      await new Promise((resolve, reject) => {
        socket.once('message', resolve)
        socket.once('error', reject)
      })
    }
    for (let i = 0; i < 20; i++) {
      const mux = await muxClient(server, 'alice')
      muxes.push(mux)
      const replica = mux.join(id)
      await until(() => replica.frames > 0, 5000, 'joined on the shared socket')
    }
    // The control: a request Fastify answered is collected once its socket closed.
    await upgradeAnsweredOverHttp(server, '/no/such/route')
    expect(upgrades).toHaveLength(41)

    expect(await collected(upgrades), 'upgrade requests still reachable').toBe(0)
    expect(sockets.every((socket) => socket.readyState === WebSocket.OPEN)).toBe(true)
    expect(muxes.every((mux) => mux.socket.readyState === WebSocket.OPEN)).toBe(true)
    const metrics = (await server.app.inject({ url: '/metrics' })).body
    expect(metrics).toMatch(/^ticks_sockets 40$/m)
  })
})

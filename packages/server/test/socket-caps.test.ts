import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { startTestServer, type TestServer, tokenFor, until } from './helpers/server.js'

/** Issue 14: a user, or an address, cannot open sockets without bound. */
describe('socket caps', () => {
  let server: TestServer
  const sockets: WebSocket[] = []
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.terminate()
    await server?.close()
  })

  /** A shared socket (`/sync`) for `userId`; resolves with how it ended, or 'open' after 300 ms. */
  async function connect(userId: string): Promise<{ socket: WebSocket; outcome: Promise<string> }> {
    const socket = new WebSocket(`${server.wsUrl}/sync?token=${await tokenFor(userId)}`)
    sockets.push(socket)
    const outcome = new Promise<string>((resolve) => {
      socket.on('close', (code, reason) => resolve(`${code} ${reason.toString()}`))
      socket.on('open', () => setTimeout(() => resolve('open'), 300))
    })
    return { socket, outcome }
  }

  it('refuses a user more sockets than the cap with 4429, and takes them again once some closed', async () => {
    server = await startTestServer({ limits: { maxSocketsPerUser: 2 } })
    const first = await connect('alice')
    const second = await connect('alice')
    expect(await first.outcome).toBe('open')
    expect(await second.outcome).toBe('open')
    const third = await connect('alice')
    expect(await third.outcome).toBe('4429 too many open sockets for this user')
    // Another user is not affected.
    expect(await (await connect('bob')).outcome).toBe('open')
    first.socket.close()
    await until(
      async () => {
        const metrics = (await server.app.inject({ url: '/metrics' })).body
        return /^ticks_sockets 2$/m.test(metrics)
      },
      3000,
      'the first socket gone',
    )
    expect(await (await connect('alice')).outcome).toBe('open')
  })

  it('refuses an address more sockets than its cap, before any token is checked, and takes them again once some closed', async () => {
    server = await startTestServer({ limits: { maxSocketsPerIp: 2 } })
    const first = await connect('alice')
    expect(await first.outcome).toBe('open')
    expect(await (await connect('bob')).outcome).toBe('open')
    expect(await (await connect('carol')).outcome).toBe('4429 too many open sockets from this address')
    const metrics = (await server.app.inject({ url: '/metrics' })).body
    expect(metrics).toMatch(/ticks_refused_total\{close_code="4429",code="too-many-sockets"\} 1/)
    first.socket.close()
    await until(
      async () => /^ticks_sockets 1$/m.test((await server.app.inject({ url: '/metrics' })).body),
      3000,
      'the first socket gone',
    )
    expect(await (await connect('carol')).outcome).toBe('open')
  })
})

import { Writable } from 'node:stream'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { killCliServers, spawnCli, startCli } from './helpers/cli-process.js'
import { freePort } from './helpers/free-port.js'
import { muxClient } from './helpers/mux-client.js'
import {
  JWT_SECRET,
  type StockClient,
  startTestServer,
  stockClient,
  type TestServer,
  tokenFor,
  until,
} from './helpers/server.js'

/** What reaches the logs: never a token, not every probe, refusals with their reason. */

afterAll(killCliServers)

function capture() {
  const lines: Record<string, unknown>[] = []
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line))
      done()
    },
  })
  return { lines, stream, text: () => lines.map((line) => JSON.stringify(line)).join('\n') }
}

const socketClosed = (url: string) =>
  new Promise<number>((resolve) => {
    const socket = new WebSocket(url)
    socket.on('error', () => {})
    socket.on('open', () => setTimeout(() => socket.close(), 50))
    socket.on('close', (code) => resolve(code))
  })

describe('logs', () => {
  let server: TestServer | undefined
  afterEach(async () => {
    await server?.close()
    server = undefined
  })

  it('never carry a token, however the query spells its key', async () => {
    const log = capture()
    server = await startTestServer({ logger: { level: 'info', stream: log.stream } })
    const id = await server.conversation('alice', { bob: 'member' })
    const token = await tokenFor('alice')
    for (const query of [`token=${token}`, `%74oken=${token}`, `TOKEN=${token}`, `a=1;token=${token}`]) {
      await socketClosed(`${server.wsUrl}/sync/${id}?${query}`)
      await socketClosed(`${server.wsUrl}/sync/${id}/x?${query}`)
      await fetch(`${server.url}/api/conversations?${query}`, {
        headers: { authorization: `Bearer ${token}` },
      })
    }
    expect(log.text()).toContain('/api/conversations')
    expect(log.text()).not.toContain(token.split('.')[2]!)
  })

  it('carry the request id on every line of a request, and a socket’s lines the id of its upgrade', async () => {
    const log = capture()
    server = await startTestServer({ logger: { level: 'info', stream: log.stream } })
    const id = await server.conversation('alice', { bob: 'member' })
    const started = log.lines.length
    const refused = await fetch(`${server.url}/api/conversations`, {
      headers: { authorization: 'Bearer nonsense' },
    })
    const restId = refused.headers.get('x-request-id')
    expect(restId).toMatch(/^[0-9a-f-]{36}$/)
    await socketClosed(`${server.wsUrl}/sync/${id}?token=nonsense`)
    await socketClosed(`${server.wsUrl}/sync?token=${await tokenFor('bob')}`)
    await until(() => log.lines.some((line) => line.msg === 'multiplexed socket connected'))

    const lines = log.lines.slice(started)
    expect(lines.every((line) => typeof line.reqId === 'string')).toBe(true)
    const idOf = (msg: string) => lines.find((line) => line.msg === msg)?.reqId
    const upgradeIdOf = (path: string) =>
      lines.find((line) => line.msg === 'incoming request' && (line.req as { url: string }).url === path)
        ?.reqId
    expect(idOf('refused request: not authenticated')).toBe(restId)
    expect(idOf('refused socket: not authenticated')).toBe(upgradeIdOf(`/sync/${id}`))
    expect(idOf('multiplexed socket connected')).toBe(upgradeIdOf('/sync'))
    expect(new Set([restId, upgradeIdOf(`/sync/${id}`), upgradeIdOf('/sync')]).size).toBe(3)
  })

  it('carry the socket’s request id on the room’s lines about its refused input, without its token or text', async () => {
    const log = capture()
    server = await startTestServer({ logger: { level: 'info', stream: log.stream } })
    const id = await server.conversation('alice', { bob: 'member' })
    const secret = 'the-forged-launch-code-1111'
    const upgradeIdOf = (userId: string) =>
      log.lines.find((line) => line.msg === 'socket connected' && line.userId === userId)?.reqId
    let bob: StockClient | undefined
    let eve: StockClient | undefined
    try {
      // A member's forged write: the room refuses it and says so on the line of bob's socket.
      bob = await stockClient(server, id, 'bob')
      await until(() => bob!.provider.synced, 5000, 'bob synced')
      bob.doc.getMap('u:alice').set('m|forged', { id: 'forged', text: secret, createdAt: 1, to: ['bob'] })
      await until(() => bob!.closes.some((close) => close.code === 4403), 5000, 'bob refused')
      // A stranger: refused by the room at connect, on the line of eve's socket.
      eve = await stockClient(server, id, 'eve')
      await until(() => eve!.closes.some((close) => close.code === 4403), 5000, 'eve refused')
    } finally {
      bob?.destroy()
      eve?.destroy()
    }
    const refusedInput = log.lines.find((line) => line.msg === 'closed a connection: refused input')
    expect(refusedInput).toMatchObject({ userId: 'bob', closeCode: 4403, code: 'forbidden-root', room: id })
    expect(refusedInput?.reqId).toBe(upgradeIdOf('bob'))
    const refusedMember = log.lines.find((line) => line.msg === 'refused connection: not a member')
    expect(refusedMember).toMatchObject({ userId: 'eve', room: id })
    expect(refusedMember?.reqId).toBe(upgradeIdOf('eve'))
    expect(new Set([upgradeIdOf('bob'), upgradeIdOf('eve')]).size).toBe(2)
    expect(log.text()).not.toContain(secret)
    for (const userId of ['bob', 'eve'])
      expect(log.text()).not.toContain((await tokenFor(userId)).split('.')[2]!)
  })

  it('carry the shared socket’s request id on the room’s lines about a conversation refused on it', async () => {
    const log = capture()
    server = await startTestServer({ logger: { level: 'info', stream: log.stream } })
    const id = await server.conversation('alice', { bob: 'member' })
    const eve = await muxClient(server, 'eve')
    try {
      const replica = eve.join(id)
      await until(() => replica.refusals.length > 0, 5000, 'eve refused')
    } finally {
      eve.close()
    }
    const connected = log.lines.find(
      (line) => line.msg === 'multiplexed socket connected' && line.userId === 'eve',
    )
    const refused = log.lines.find((line) => line.msg === 'refused connection: not a member')
    expect(refused).toMatchObject({ userId: 'eve', room: id })
    expect(typeof connected?.reqId).toBe('string')
    expect(refused?.reqId).toBe(connected?.reqId)
  })

  it('take a proxy’s request id when it looks like one, never a token', async () => {
    const log = capture()
    server = await startTestServer({ logger: { level: 'info', stream: log.stream } })
    const traced = await fetch(`${server.url}/api/conversations`, {
      headers: { 'x-request-id': 'trace-4bf92f3577b3' },
    })
    expect(traced.headers.get('x-request-id')).toBe('trace-4bf92f3577b3')
    expect(log.lines).toContainEqual(
      expect.objectContaining({ reqId: 'trace-4bf92f3577b3', msg: 'incoming request' }),
    )
    const token = await tokenFor('alice')
    const pasted = await fetch(`${server.url}/api/conversations`, { headers: { 'x-request-id': token } })
    expect(pasted.headers.get('x-request-id')).not.toBe(token)
    expect(log.text()).not.toContain(token.split('.')[2]!)
  })

  it('never carry a message’s text, sent over REST or a socket, even at debug', async () => {
    const log = capture()
    server = await startTestServer({ logger: { level: 'debug', stream: log.stream } })
    const id = await server.conversation('alice', { bob: 'member' })
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${await tokenFor('alice')}` }
    const secret = 'the-launch-code-is-0000'
    const posted = await fetch(`${server.url}/api/conversations/${id}/messages`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ text: `over REST: ${secret}` }),
    })
    expect(posted.status).toBe(201)
    // Refused bodies are not echoed into the log either.
    for (const body of [
      { text: secret, extra: secret },
      { text: secret.repeat(2000) },
      { text: 7, note: secret },
    ])
      await fetch(`${server.url}/api/conversations/${id}/messages`, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
      })
    let alice: StockClient | undefined
    try {
      alice = await stockClient(server, id, 'alice')
      await until(() => alice!.provider.synced, 5000, 'synced')
      const sent = alice.conversation.send(`over the socket: ${secret}`)
      await until(() => alice!.conversation.status(sent.id) !== 'pending', 5000, 'sent')
      await fetch(`${server.url}/api/conversations/${id}`, { headers })
    } finally {
      alice?.destroy()
    }
    expect(log.text()).toContain('socket connected')
    expect(log.text()).not.toContain(secret)
  })

  it('leave out /healthz, /readyz and /metrics at info; say why a REST call got 401', async () => {
    const log = capture()
    server = await startTestServer({ logger: { level: 'info', stream: log.stream } })
    for (const path of ['/healthz', '/readyz', '/metrics'])
      expect((await fetch(server.url + path)).ok).toBe(true)
    expect(log.text()).not.toMatch(/healthz|readyz|metrics/)
    await fetch(`${server.url}/api/conversations`, { headers: { authorization: 'Bearer nonsense' } })
    expect(log.lines).toContainEqual(expect.objectContaining({ reason: 'invalid token', statusCode: 401 }))
  })

  it('--log-level warn quiets info; the CLI says where it listens in a log line; a bad level is refused', async () => {
    const info = await startCli(['--store', 'memory', '--jwt-secret', JWT_SECRET])
    const listening = info
      .output()
      .split('\n')
      .find((line) => line.includes('listening on'))
    expect(JSON.parse(listening!)).toMatchObject({
      level: 30,
      msg: expect.stringMatching(/listening on http/),
    })
    info.process.kill('SIGTERM')
    await info.exited

    const port = await freePort()
    const quiet = spawnCli(
      ['--port', String(port), '--store', 'memory', '--jwt-secret', JWT_SECRET, '--log-level', 'warn'],
      {
        TICKS_LOG_LEVEL: 'debug', // the flag wins
      },
    )
    await until(
      async () =>
        (await fetch(`http://127.0.0.1:${port}/api/conversations`).catch(() => null))?.status === 401,
      20_000,
    )
    quiet.process.kill('SIGTERM')
    expect((await quiet.exited).code).toBe(0)
    expect(quiet.output()).not.toMatch(/"level":30/)

    const bad = spawnCli(['--port', '0', '--log-level', 'loud'])
    expect((await bad.exited).code).toBe(2)
    expect(bad.output()).toMatch(/invalid log level/)
  }, 60_000)
})

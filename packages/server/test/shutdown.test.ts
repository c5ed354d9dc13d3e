import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { type CliServer, killCliServers, startCli } from './helpers/cli-process.js'
import { JWT_SECRET, tokenFor } from './helpers/server.js'

/** SIGTERM / SIGINT of the CLI: the flush completes, but nothing a peer does can hold the exit. */

const dataDirs: string[] = []
afterAll(() => {
  killCliServers()
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true })
})

async function server(args: string[] = []): Promise<CliServer & { dataDir: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ticks-shutdown-'))
  dataDirs.push(dataDir)
  const cli = await startCli(['--data', dataDir, '--jwt-secret', JWT_SECRET, ...args])
  return { ...cli, dataDir }
}

async function api(url: string, method: string, path: string, body?: unknown) {
  const response = await fetch(url + path, {
    method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenFor('alice')}` },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  })
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

/** A synced socket in the conversation that then stops reading: it never answers the 1012. */
async function stuckSocket(cli: CliServer, id: string): Promise<WebSocket> {
  const socket = new WebSocket(`${cli.url.replace('http', 'ws')}/sync/${id}?token=${await tokenFor('alice')}`)
  socket.on('error', () => {})
  await new Promise((resolve) => socket.once('message', resolve))
  ;(socket as unknown as { _socket: { pause(): void } })._socket.pause()
  return socket
}

/** A TCP connection that sends part of a request and then nothing. */
function slowRequest(cli: CliServer, head: string) {
  const socket = connect(Number(new URL(cli.url).port), '127.0.0.1')
  socket.on('error', () => {})
  socket.write(head)
  return socket
}

describe('ticks-server shutdown', () => {
  it('a socket that stops reading, a slow body and slow headers do not hold the exit; acked messages are stored', async () => {
    const cli = await server()
    const { body } = await api(cli.url, 'POST', '/api/conversations', { title: 'T', members: ['bob'] })
    const id = body.id as string
    const stuck = await stuckSocket(cli, id)
    const slowBody = slowRequest(
      cli,
      `POST /api/conversations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"title":"`,
    )
    const slowHeaders = slowRequest(cli, 'GET /healthz HTTP/1.1\r\nHost: x\r\n')
    await new Promise((resolve) => setTimeout(resolve, 200))
    const posts = Array.from({ length: 20 }, (_, i) =>
      api(cli.url, 'POST', `/api/conversations/${id}/messages`, { text: `m${i}` }).catch(() => null),
    )
    await new Promise((resolve) => setTimeout(resolve, 5))
    const signalled = Date.now()
    cli.process.kill('SIGTERM')
    const acked = (await Promise.all(posts))
      .filter((post) => post?.status === 201)
      .map((post) => post!.body.id)
    const exit = await cli.exited
    expect(exit.code).toBe(0)
    // About slowCloseGraceMs (1 s) after the 1012; before, ws held the exit 30 s and slow requests 100 s+.
    expect(exit.at - signalled).toBeLessThan(5000)
    for (const socket of [slowBody, slowHeaders]) socket.destroy()
    stuck.terminate()

    const again = await server(['--data', cli.dataDir])
    try {
      const stored = await api(again.url, 'GET', `/api/conversations/${id}`)
      const ids = new Set((stored.body.messages as { id: string }[]).map((message) => message.id))
      for (const id of acked) expect(ids.has(id as string)).toBe(true)
    } finally {
      again.process.kill('SIGTERM')
      await again.exited
    }
  }, 30_000)

  it('a second signal exits at once with 1; the deadline (--shutdown-timeout) forces exit 1', async () => {
    const twice = await server()
    const id = (await api(twice.url, 'POST', '/api/conversations', { title: 'T', members: [] })).body
      .id as string
    const stuck = await stuckSocket(twice, id)
    twice.process.kill('SIGTERM')
    await new Promise((resolve) => setTimeout(resolve, 100))
    const second = Date.now()
    twice.process.kill('SIGINT')
    const exit = await twice.exited
    expect(exit.code).toBe(1)
    expect(exit.at - second).toBeLessThan(1000)
    expect(twice.output()).toMatch(/second signal/)
    stuck.terminate()

    // A deadline shorter than the socket's close grace: the exit cannot wait for it.
    const hurried = await server(['--shutdown-timeout', '0.2'])
    const id2 = (await api(hurried.url, 'POST', '/api/conversations', { title: 'T', members: [] })).body
      .id as string
    const stuck2 = await stuckSocket(hurried, id2)
    const signalled = Date.now()
    hurried.process.kill('SIGTERM')
    const forced = await hurried.exited
    expect(forced.code).toBe(1)
    expect(forced.at - signalled).toBeLessThan(1000)
    expect(hurried.output()).toMatch(/shutdown deadline/)
    stuck2.terminate()
  }, 30_000)
})

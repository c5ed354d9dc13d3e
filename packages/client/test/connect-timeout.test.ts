import { createServer, type Server, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, testClient, until } from './helpers.js'

/**
 * A socket stuck in CONNECTING: a TCP listener that accepts, reads the upgrade request and never
 * answers it (a black-holed proxy, a frozen server). Without a bound the client would wait for the
 * OS's own timeout, minutes, and never try another node.
 */
function blackHole() {
  const held = new Set<Socket>()
  let accepted = 0
  let closedByClient = 0
  const server: Server = createServer((socket) => {
    accepted++
    held.add(socket)
    socket.resume() // read the request, answer nothing
    socket.on('close', () => {
      if (held.delete(socket)) closedByClient++
    })
    socket.on('error', () => {})
  })
  return {
    listen: () =>
      new Promise<string>((resolve) =>
        server.listen(0, '127.0.0.1', () => {
          const { port } = server.address() as { port: number }
          resolve(`ws://127.0.0.1:${port}`)
        }),
      ),
    accepted: () => accepted,
    closedByClient: () => closedByClient,
    /** Connections the client still holds open to it. */
    stuck: () => held.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of held) socket.destroy()
        held.clear()
        server.close(() => resolve())
      }),
  }
}

const CONNECT_TIMEOUT_MS = 300

let server: Awaited<ReturnType<typeof startServer>>
beforeAll(async () => {
  server = await startServer()
})
afterAll(async () => {
  await server.close()
})

describe.each(['shared', 'per-conversation'] as const)(
  'a socket stuck in CONNECTING (%s transport)',
  (transport) => {
    it('is closed after connectTimeoutMs and retried on the next node, where it syncs', async () => {
      const hole = blackHole()
      const holeUrl = await hole.listen()
      const token = await server.token('alice')
      const id = await server.conversation(token, ['bob'])
      const client = testClient({
        url: [holeUrl, server.url],
        token,
        userId: 'alice',
        transport,
        connection: { connectTimeoutMs: CONNECT_TIMEOUT_MS },
      })
      try {
        const started = Date.now()
        const conversation = client.open(id)
        // Not `whenSynced()`: it answers for the attempt under way, and that one goes offline.
        await until(
          'synced on the next node',
          () => conversation.connection,
          (state) => state === 'synced',
        )
        expect(Date.now() - started).toBeGreaterThanOrEqual(CONNECT_TIMEOUT_MS)
        expect(hole.accepted()).toBe(1)
        // The client closed the attempt it gave up on: nothing of it is left on either side.
        await until('the stuck attempt closed', hole.closedByClient, (closed) => closed === 1)
        expect(hole.stuck()).toBe(0)
      } finally {
        await client.close()
        await hole.close()
      }
    })

    it('keeps retrying a node that never answers, with one attempt open at a time', async () => {
      const hole = blackHole()
      const holeUrl = await hole.listen()
      const client = testClient({
        url: holeUrl,
        token: await server.token('alice'),
        userId: 'alice',
        transport,
        connection: { connectTimeoutMs: CONNECT_TIMEOUT_MS, backoffBaseMs: 50, maxBackoffMs: 100 },
      })
      try {
        const conversation = client.open('never-answered')
        let mostStuck = 0
        await until(
          'three attempts given up',
          () => {
            mostStuck = Math.max(mostStuck, hole.stuck())
            return hole.closedByClient()
          },
          (closed) => closed >= 3,
          5000,
        )
        expect(mostStuck).toBe(1)
        expect(hole.accepted()).toBeGreaterThanOrEqual(3)
        expect(['connecting', 'offline']).toContain(conversation.connection)
        expect(conversation.stopped).toBeUndefined()
      } finally {
        await client.close()
        await hole.close()
      }
    })
  },
)

describe('the inbox on a socket stuck in CONNECTING', () => {
  it('gets its list once the attempt is retried on the next node', async () => {
    const hole = blackHole()
    const holeUrl = await hole.listen()
    const token = await server.token('carol')
    const id = await server.conversation(token, ['dave'])
    const client = testClient({
      url: [holeUrl, server.url],
      token,
      userId: 'carol',
      connection: { connectTimeoutMs: CONNECT_TIMEOUT_MS },
    })
    try {
      const inbox = client.inbox({ deliver: false })
      await inbox.whenLoaded()
      expect(inbox.entries().map((entry) => entry.id)).toEqual([id])
      expect(hole.accepted()).toBe(1)
      await until('the stuck attempt closed', hole.closedByClient, (closed) => closed === 1)
    } finally {
      await client.close()
      await hole.close()
    }
  })
})

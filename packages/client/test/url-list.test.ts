import { createServer as createHttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, testClient, until } from './helpers.js'

/**
 * Several nodes of one deployment (DESIGN section 10): a client given their URLs tries the next
 * one whenever a connection fails, so a dead node's clients carry on at the others.
 */

let server: Awaited<ReturnType<typeof startServer>>
beforeAll(async () => {
  server = await startServer()
})
afterAll(() => server.close())

/** A port where a node used to be: it answers every connection with an immediate reset. */
async function deadNode(): Promise<{ url: string; close(): Promise<void> }> {
  const http = createHttpServer()
  http.on('upgrade', (_request, socket) => socket.destroy())
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  const { port } = http.address() as AddressInfo
  return { url: `ws://127.0.0.1:${port}`, close: () => new Promise((resolve) => http.close(() => resolve())) }
}

describe('a client given several node URLs', () => {
  it('moves on to the next node when one is down, and syncs there', async () => {
    const dead = await deadNode()
    try {
      const token = await server.token('alice')
      const id = await server.conversation(token, [])
      const client = testClient({
        url: [dead.url, server.url],
        token,
        userId: 'alice',
        connection: { backoffBaseMs: 20, maxBackoffMs: 50 },
      })
      const alice = client.open(id)
      // The first attempt fails (whenSynced would say false); the retry goes to the next node.
      await until(
        'synced through the second node',
        () => alice.connection,
        (state) => state === 'synced',
      )
      const sent = alice.send('through the second node')
      await new Promise<void>((resolve) => {
        const stop = alice.onChange(() => {
          if (alice.status(sent.id) !== 'pending') {
            stop()
            resolve()
          }
        })
      })
      expect(alice.message(sent.id).seq).toBe(1)
      await client.close()
    } finally {
      await dead.close()
    }
  })
})

import { createClient } from '@ticks/client'
import { createServer } from '@ticks/server'
import { expect, it } from 'vitest'
import WebSocket from 'ws'
import { createChaosProxy } from '../src/index.js'

it('a message sent during an outage is delivered after it', async () => {
  const app = await createServer({ store: 'memory', logger: false, webRoot: false })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const proxy = await createChaosProxy({ target: `ws://127.0.0.1:${port}` })
  const post = async (path: string, body: unknown, token?: string) =>
    (
      await fetch(`http://127.0.0.1:${port}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
        body: JSON.stringify(body),
      })
    ).json()
  const { token: aliceToken } = await post('/api/session', { userId: 'alice' })
  const { token: bobToken } = await post('/api/session', { userId: 'bob' })
  const { id } = await post('/api/conversations', { title: 'demo', members: ['bob'] }, aliceToken)
  const connect = (userId: string, token: string) =>
    createClient({
      url: proxy.url,
      token,
      userId,
      persistence: 'none',
      WebSocket: WebSocket as never,
      connection: { backoffBaseMs: 50, maxBackoffMs: 300 },
    })
  const alice = connect('alice', aliceToken)
  const bob = connect('bob', bobToken)
  try {
    const aliceChat = alice.open(id)
    const bobChat = bob.open(id)
    await Promise.all([aliceChat.whenSynced(), bobChat.whenSynced()])
    proxy.cut()
    const message = aliceChat.send('sent while the network was down')
    expect(aliceChat.status(message.id)).toBe('pending')
    proxy.restore()
    await expect.poll(() => aliceChat.status(message.id), { timeout: 5000 }).toBe('delivered')
    expect(bobChat.messages().map((m) => m.text)).toEqual(['sent while the network was down'])
  } finally {
    await alice.close()
    await bob.close()
    await proxy.close()
    await app.close()
  }
})

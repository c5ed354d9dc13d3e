import { afterEach, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer, tokenFor } from './helpers/server.js'

describe('REST', () => {
  let server: TestServer
  afterEach(async () => server?.close())

  const call = async (method: string, path: string, user: string | null, body?: unknown) => {
    const headers: Record<string, string> = {}
    if (user) headers.authorization = `Bearer ${await tokenFor(user)}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers,
      ...(body !== undefined && { body: JSON.stringify(body) }),
    })
    // biome-ignore lint/suspicious/noExplicitAny: bodies of every route, checked by the assertions below
    return { status: response.status, body: (await response.json()) as Record<string, any> }
  }

  it('creates, lists, reads and posts with the documented shapes', async () => {
    server = await startTestServer()
    const created = await call('POST', '/api/conversations', 'alice', {
      title: 'Lunch',
      members: { bob: 'member', olga: 'observer' },
    })
    expect(created.status).toBe(201)
    expect(created.body).toEqual({ id: expect.any(String) })
    const id = created.body.id as string

    const posted = await call('POST', `/api/conversations/${id}/messages`, 'bob', { text: 'hi from a bot' })
    expect(posted.status).toBe(201)
    expect(posted.body).toMatchObject({ id: expect.any(String), seq: 1, author: 'bob', status: 'sent' })

    const read = await call('GET', `/api/conversations/${id}`, 'olga')
    expect(read.status).toBe(200)
    expect(read.body).toEqual({
      id,
      title: 'Lunch',
      members: {
        alice: { role: 'owner', joinedAt: expect.any(Number) },
        bob: { role: 'member', joinedAt: expect.any(Number) },
        olga: { role: 'observer', joinedAt: expect.any(Number) },
      },
      messages: [
        {
          id: posted.body.id,
          author: 'bob',
          text: 'hi from a bot',
          createdAt: expect.any(Number),
          seq: 1,
          status: 'sent',
          receipts: { alice: 'sent' },
        },
      ],
    })

    const mine = await call('GET', '/api/conversations', 'alice')
    expect(mine.body.conversations).toEqual([
      {
        id,
        title: 'Lunch',
        members: expect.objectContaining({ alice: expect.objectContaining({ role: 'owner' }) }),
        lastMessage: expect.objectContaining({ id: posted.body.id, text: 'hi from a bot', seq: 1 }),
        updatedAt: expect.any(Number),
        // The caller's inbox figures (as the multiplexed socket's feed has them).
        lastSeq: 1,
        readSeq: 0,
        deliveredSeq: 0,
        unread: 1,
      },
    ])
    expect((await call('GET', '/api/conversations', 'stranger')).body).toEqual({ conversations: [] })

    const state = await call('GET', '/api/state', 'alice')
    expect(state.body).toMatchObject({ rooms: 1, connections: 0, messages: { sent: 1, pending: 0 } })
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200)
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200)
    const metrics = await (await fetch(`${server.url}/metrics`)).text()
    expect(metrics).toContain('ticks_persist_seconds_bucket')
    expect(metrics).toContain('ticks_rooms 1')
  })

  it('answers 401, 400, 403, 404 and 413 with the error shape', async () => {
    server = await startTestServer()
    const { body } = await call('POST', '/api/conversations', 'alice', { title: 'T', members: ['bob'] })
    const id = body.id as string
    const errorShape = { error: { code: expect.any(String), message: expect.any(String) } }

    const cases: [number, Promise<{ status: number; body: unknown }>][] = [
      [401, call('GET', '/api/conversations', null)],
      [401, call('GET', `/api/conversations/${id}`, null)],
      [400, call('POST', '/api/conversations', 'alice', { title: 'T' })],
      [400, call('POST', '/api/conversations', 'alice', { title: 'T', members: ['bad id!'] })],
      [400, call('POST', `/api/conversations/${id}/messages`, 'alice', { text: '' })],
      [403, call('GET', `/api/conversations/${id}`, 'mallory')],
      [403, call('POST', `/api/conversations/${id}/messages`, 'mallory', { text: 'x' })],
      [404, call('GET', '/api/conversations/unknown-id', 'alice')],
      [404, call('POST', '/api/conversations/unknown-id/messages', 'alice', { text: 'x' })],
      [413, call('POST', `/api/conversations/${id}/messages`, 'alice', { text: 'x'.repeat(17 * 1024) })],
    ]
    for (const [status, pending] of cases) {
      const response = await pending
      expect(response.status).toBe(status)
      expect(response.body).toEqual(errorShape)
    }
    expect((await call('GET', '/no/such/route', 'alice')).status).toBe(404)
  })

  it('issues dev-mode sessions only in dev mode', async () => {
    server = await startTestServer({ jwtSecret: undefined })
    const session = await call('POST', '/api/session', null, { userId: 'alice' })
    expect(session.body).toEqual({ token: expect.any(String), userId: 'alice' })
    const mine = await fetch(`${server.url}/api/conversations`, {
      headers: { authorization: `Bearer ${session.body.token}` },
    })
    expect(mine.status).toBe(200)
    await server.close()
    server = await startTestServer()
    expect((await call('POST', '/api/session', null, { userId: 'alice' })).status).toBe(404)
  })
})

describe('REST content types', () => {
  let server: TestServer
  afterEach(async () => {
    await server?.close()
  })

  it('answers a body that is not JSON with 415 and the error shape', async () => {
    server = await startTestServer()
    const response = await fetch(`${server.url}/api/conversations`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', authorization: `Bearer ${await tokenFor('alice')}` },
      body: JSON.stringify({ title: 'T', members: [] }),
    })
    expect(response.status).toBe(415)
    expect(await response.json()).toEqual({
      error: { code: 'unsupported-media-type', message: expect.any(String) },
    })
  })
})

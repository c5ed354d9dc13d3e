import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { JWT_SECRET, startTestServer, type TestServer, tokenFor } from './helpers/server.js'

/** `GET /api/announcements` (issue 16): what `/admin` lists, from the store, for admins only. */
describe('listing announcements', () => {
  let server: TestServer | undefined
  let dataDir: string | undefined
  afterEach(async () => {
    await server?.close()
    server = undefined
    if (dataDir) rmSync(dataDir, { recursive: true, force: true })
    dataDir = undefined
  })

  const adminToken = () => tokenFor('ops', JWT_SECRET, { ticks_admin: true })
  const call = async (method: 'GET' | 'POST', path: string, token: string, body?: unknown) => {
    const response = await fetch(`${server!.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    })
    // biome-ignore lint/suspicious/noExplicitAny: response bodies, checked by the assertions below
    return { status: response.status, body: (await response.json()) as any }
  }
  const roomsOpen = async () => {
    const metrics = (await server!.app.inject({ url: '/metrics' })).body
    return Number(/^ticks_rooms (\d+)$/m.exec(metrics)?.[1])
  }

  it('lists what admins posted, newest first, after a restart, without loading a conversation', async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'ticks-announcements-'))
    server = await startTestServer({ store: 'sqlite', data: dataDir })
    const one = await server.conversation('alice', { bob: 'member' })
    await server.conversation('carol', {})
    const admin = await adminToken()
    const first = await call('POST', '/api/announcements', admin, {
      text: 'Fire drill at 10',
      conversationId: one,
    })
    const second = await call('POST', '/api/announcements', admin, { text: 'Maintenance at 22:00' })
    expect([first.status, second.status]).toEqual([201, 201])
    expect(first.body.id).toEqual(expect.any(String))
    expect(second.body.id).not.toBe(first.body.id)

    await server.close()
    server = await startTestServer({ store: 'sqlite', data: dataDir })
    const listed = await call('GET', '/api/announcements', admin)
    expect(listed).toMatchObject({
      status: 200,
      body: {
        announcements: [
          {
            id: second.body.id,
            text: 'Maintenance at 22:00',
            postedBy: 'ops',
            conversationId: null,
            delivered: 2,
            failed: 0,
          },
          {
            id: first.body.id,
            text: 'Fire drill at 10',
            postedBy: 'ops',
            conversationId: one,
            delivered: 1,
            failed: 0,
          },
        ],
      },
    })
    expect(listed.body.announcements[0].postedAt).toBeGreaterThanOrEqual(
      listed.body.announcements[1].postedAt,
    )
    expect(await roomsOpen()).toBe(0)

    const newest = await call('GET', '/api/announcements?limit=1', admin)
    expect(newest.body.announcements.map((a: { id: string }) => a.id)).toEqual([second.body.id])
  })

  it('answers members 403 and no token 401 with the JSON error, and a bad limit 400', async () => {
    server = await startTestServer()
    const member = await call('GET', '/api/announcements', await tokenFor('alice'))
    expect(member).toMatchObject({
      status: 403,
      body: { error: { code: 'not-admin', message: expect.any(String) } },
    })
    const anonymous = await call('GET', '/api/announcements', 'not-a-token')
    expect(anonymous).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } })
    const admin = await adminToken()
    for (const limit of ['0', '201', 'many', '1.5']) {
      const answer = await call('GET', `/api/announcements?limit=${limit}`, admin)
      expect(answer, `limit=${limit}`).toMatchObject({
        status: 400,
        body: { error: { code: 'bad-request' } },
      })
    }
    expect(await call('GET', '/api/announcements', admin)).toMatchObject({
      status: 200,
      body: { announcements: [] },
    })
  })
})

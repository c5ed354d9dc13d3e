import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import {
  JWT_SECRET,
  startTestServer,
  stockClient,
  type TestServer,
  tokenFor,
  until,
} from './helpers/server.js'

/** A token that may post announcements: the claim, or (with `claims`) a scope. */
const adminToken = (userId: string, claims: Record<string, unknown> = { ticks_admin: true }) =>
  tokenFor(userId, JWT_SECRET, claims)

/** Announcements (issue 16): an admin token posts system messages no member can forge. */
describe('announcements', () => {
  let server: TestServer | undefined
  afterEach(async () => {
    await server?.close()
    server = undefined
  })

  const announce = async (token: string, body: unknown) => {
    const response = await fetch(`${server!.url}/api/announcements`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    // biome-ignore lint/suspicious/noExplicitAny: response bodies, checked by the assertions below
    return { status: response.status, body: (await response.json()) as any }
  }

  it('posts into one conversation: sequenced, shown as an announcement, receipted like any message', async () => {
    server = await startTestServer()
    const id = await server.conversation('alice', { bob: 'member', olga: 'observer' })
    const bob = await stockClient(server, id, 'bob')
    try {
      const posted = await announce(await adminToken('ops'), {
        text: 'Evacuate building B',
        conversationId: id,
      })
      expect(posted).toMatchObject({ status: 201, body: { announcements: [{ conversationId: id, seq: 1 }] } })
      await until(() => bob.conversation.messages().length === 1)
      const [shown] = bob.conversation.messages()
      expect(shown).toMatchObject({
        text: 'Evacuate building B',
        author: ':system',
        announcement: true,
        seq: 1,
      })
      // Every writing member is a recipient; an observer is not (it writes no receipts).
      expect(shown!.to).toEqual(['alice', 'bob'])
      bob.conversation.markRead()
      await until(async () => {
        const response = await fetch(`${server!.url}/api/conversations/${id}`, {
          headers: { authorization: `Bearer ${await tokenFor('alice')}` },
        })
        const { messages } = (await response.json()) as { messages: { receipts: Record<string, string> }[] }
        return messages[0]?.receipts.bob === 'read'
      })
    } finally {
      bob.destroy()
    }
  })

  it('posts into every conversation, with a scope as well as a claim', async () => {
    server = await startTestServer()
    const ids = [
      await server.conversation('alice', { bob: 'member' }),
      await server.conversation('carol', {}),
      await server.conversation('bob', { carol: 'member' }),
    ]
    const posted = await announce(await adminToken('ops', { scope: 'openid ticks:admin' }), {
      text: 'Maintenance at 22:00',
    })
    expect(posted.status).toBe(201)
    expect(posted.body.announcements.map((a: { conversationId: string }) => a.conversationId).sort()).toEqual(
      [...ids].sort(),
    )
    expect(posted.body.announcements.every((a: { seq: number }) => a.seq === 1)).toBe(true)
  })

  it('refuses tokens without the claim, bad bodies and unknown conversations', async () => {
    server = await startTestServer()
    const id = await server.conversation('alice', { bob: 'member' })
    const member = await announce(await tokenFor('alice'), { text: 'I am the admin now', conversationId: id })
    expect(member).toMatchObject({ status: 403, body: { error: { code: 'not-admin' } } })
    const admin = await adminToken('ops')
    expect((await announce(admin, { text: '' })).status).toBe(400)
    expect((await announce(admin, { text: 'x', conversationId: 'nope' })).status).toBe(404)
    expect((await announce(admin, { text: 'x'.repeat(17 * 1024), conversationId: id })).status).toBe(413)
    expect((await announce('not-a-token', { text: 'x' })).status).toBe(401)
  })

  it('a member cannot forge one over the socket: 4403, nothing applied', async () => {
    server = await startTestServer()
    const id = await server.conversation('alice', { bob: 'member' })
    const bob = await stockClient(server, id, 'bob')
    try {
      await until(() => bob.provider.synced)
      bob.doc
        .getMap('system')
        .set('m|forged', { id: 'forged', text: 'Evacuate now', createdAt: 1, to: ['alice'] })
      await until(() => bob.closes.some((close) => close.code === 4403))
      const alice = await stockClient(server, id, 'alice', new Y.Doc({ guid: id }))
      try {
        await until(() => alice.provider.synced)
        expect(alice.conversation.messages()).toEqual([])
      } finally {
        alice.destroy()
      }
    } finally {
      bob.destroy()
    }
  })

  it('dev sessions hand out an admin token on request, and an ordinary one otherwise', async () => {
    server = await startTestServer({ devSessions: true })
    const id = await server.conversation('alice', { bob: 'member' })
    const tokenOf = async (body: unknown) => {
      const session = await fetch(`${server!.url}/api/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
      return ((await session.json()) as { token: string }).token
    }
    const ordinary = await announce(await tokenOf({ userId: 'ops' }), { text: 'hello all' })
    expect(ordinary.status).toBe(403)
    const posted = await announce(await tokenOf({ userId: 'ops', admin: true }), { text: 'hello all' })
    expect(posted).toMatchObject({ status: 201, body: { announcements: [{ conversationId: id, seq: 1 }] } })
  })
})

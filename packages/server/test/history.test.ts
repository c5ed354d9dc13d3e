import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Conversation } from '@ticks/core'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import type { HistoryRecord } from '../src/index.js'
import { startTestServer, stockClient, type TestServer, tokenFor, until } from './helpers/server.js'

/**
 * Bounded conversations (issue 15, DESIGN section 12) over a real server: the sequencer seals what
 * overflows the window into the store's history, which members page back through over REST.
 */
describe('sealed history', () => {
  let server: TestServer | undefined
  const dirs: string[] = []
  afterEach(async () => {
    await server?.close()
    server = undefined
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
  })

  const get = async (path: string, user: string, headers: Record<string, string> = {}) => {
    const response = await fetch(`${server!.url}${path}`, {
      headers: { authorization: `Bearer ${await tokenFor(user)}`, ...headers },
    })
    const text = await response.text()
    return {
      status: response.status,
      headers: response.headers,
      // biome-ignore lint/suspicious/noExplicitAny: bodies of the routes, checked by the assertions below
      body: (text ? JSON.parse(text) : null) as any,
    }
  }
  const post = async (id: string, user: string, text: string) => {
    const response = await fetch(`${server!.url}/api/conversations/${id}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await tokenFor(user)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ text }),
    })
    expect(response.status).toBe(201)
    return (await response.json()) as { id: string; seq: number }
  }

  /** Every sealed message, by paging back from the window `limit` at a time. */
  const pageBack = async (id: string, user: string, limit: number) => {
    const pages: HistoryRecord[][] = []
    let before: number | undefined
    for (;;) {
      const query = before === undefined ? `limit=${limit}` : `before=${before}&limit=${limit}`
      const { status, body } = await get(`/api/conversations/${id}/history?${query}`, user)
      expect(status).toBe(200)
      if (body.messages.length === 0) break
      pages.push(body.messages)
      before = body.messages[0].seq
    }
    return pages.reverse().flat()
  }

  it('keeps the live window bounded and pages every sealed message back once, in order', async () => {
    const data = mkdtempSync(join(tmpdir(), 'ticks-history-'))
    dirs.push(data)
    server = await startTestServer({ store: 'sqlite', data, historyWindow: 10 })
    const id = await server.conversation('alice', { bob: 'member' })
    const sent: { id: string; seq: number }[] = []
    for (let i = 0; i < 47; i++) sent.push(await post(id, i % 3 ? 'alice' : 'bob', `message ${i}`))
    expect(sent.map((m) => m.seq)).toEqual(Array.from({ length: 47 }, (_, i) => i + 1))

    const live = await get(`/api/conversations/${id}`, 'bob')
    // Sealed in batches of a tenth of the window: between 10 and 10 + 1 - 1 live.
    expect(live.body.messages.length).toBeGreaterThanOrEqual(10)
    expect(live.body.messages.length).toBeLessThan(11)
    const liveSeqs = live.body.messages.map((m: { seq: number }) => m.seq)
    const history = await pageBack(id, 'bob', 7)
    expect([...history.map((m) => m.seq), ...liveSeqs]).toEqual(sent.map((m) => m.seq))
    expect(history.map((m) => m.id)).toEqual(sent.slice(0, history.length).map((m) => m.id))
    expect(history[0]).toEqual({
      seq: 1,
      id: sent[0]!.id,
      author: 'bob',
      text: 'message 0',
      createdAt: expect.any(Number),
      to: ['alice'],
    })

    const first = await get(`/api/conversations/${id}/history?limit=5`, 'alice')
    expect(first.body.sealedThrough).toBe(history.length)
    expect(first.body.messages.map((m: HistoryRecord) => m.seq)).toEqual(
      Array.from({ length: 5 }, (_, i) => history.length - 4 + i),
    )
    // Without `before` the page moves as more is sealed: revalidate. With it: cache for good.
    expect(first.headers.get('cache-control')).toBe('no-cache')
    const fixed = await get(`/api/conversations/${id}/history?before=20&limit=5`, 'alice')
    expect(fixed.headers.get('cache-control')).toContain('immutable')
    const etag = fixed.headers.get('etag')!
    const again = await get(`/api/conversations/${id}/history?before=20&limit=5`, 'alice', {
      'if-none-match': etag,
    })
    expect(again.status).toBe(304)
  })

  it('seals a conversation stored before sealing on its first load, losing nothing', async () => {
    const data = mkdtempSync(join(tmpdir(), 'ticks-history-'))
    dirs.push(data)
    server = await startTestServer({ store: 'sqlite', data, historyWindow: 0 })
    const id = await server.conversation('alice', { bob: 'member' })
    const sent: { id: string; seq: number }[] = []
    for (let i = 0; i < 30; i++) sent.push(await post(id, 'alice', `old ${i}`))
    expect((await get(`/api/conversations/${id}`, 'bob')).body.messages).toHaveLength(30)
    await server.close()
    server = await startTestServer({ store: 'sqlite', data, historyWindow: 8 })
    let live: { id: string }[] = []
    await until(async () => {
      live = (await get(`/api/conversations/${id}`, 'bob')).body.messages
      return live.length <= 8
    })
    const history = await pageBack(id, 'bob', 10)
    expect([...history, ...live].map((m: { id: string }) => m.id)).toEqual(sent.map((m) => m.id))
  })

  it('refuses strangers, unknown conversations and bad parameters with the JSON error', async () => {
    server = await startTestServer({ historyWindow: 3 })
    const id = await server.conversation('alice', { bob: 'member' })
    for (let i = 0; i < 8; i++) await post(id, 'alice', `m${i}`)
    const stranger = await get(`/api/conversations/${id}/history`, 'mallory')
    expect(stranger).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } })
    expect((await get('/api/conversations/nope/history', 'alice')).status).toBe(404)
    for (const query of ['before=0', 'limit=0', 'limit=100000', 'before=abc']) {
      const bad = await get(`/api/conversations/${id}/history?${query}`, 'alice')
      expect(bad.status, query).toBe(400)
      expect(bad.body.error.code).toEqual(expect.any(String))
    }
    // `before` past the sealed range serves the newest sealed page, never live messages.
    const beyond = await get(`/api/conversations/${id}/history?before=1000`, 'alice')
    expect(beyond.body.messages.every((m: HistoryRecord) => m.seq <= beyond.body.sealedThrough)).toBe(true)
  })

  it('pages every message once while new messages keep sealing', async () => {
    server = await startTestServer({ historyWindow: 5 })
    const id = await server.conversation('alice', { bob: 'member' })
    for (let i = 0; i < 20; i++) await post(id, 'alice', `before ${i}`)
    // Page back with fixed `before`s while more messages arrive and seal.
    const writer = (async () => {
      for (let i = 0; i < 40; i++) await post(id, 'bob', `during ${i}`)
    })()
    const first = await get(`/api/conversations/${id}/history?limit=3`, 'alice')
    let before = first.body.messages[0].seq as number
    const seen = [...first.body.messages]
    while (before > 1) {
      const page = await get(`/api/conversations/${id}/history?before=${before}&limit=3`, 'alice')
      seen.unshift(...page.body.messages)
      before = page.body.messages[0].seq
    }
    await writer
    expect(seen.map((m: HistoryRecord) => m.seq)).toEqual(
      Array.from({ length: seen.length }, (_, i) => i + 1),
    )
    expect(new Set(seen.map((m: HistoryRecord) => m.id)).size).toBe(seen.length)
  })

  it('a stock y-websocket replica sees the window; its receipts still raise statuses of sealed messages', async () => {
    server = await startTestServer({ historyWindow: 4 })
    const id = await server.conversation('alice', { bob: 'member' })
    const sent: { id: string; seq: number }[] = []
    for (let i = 0; i < 12; i++) sent.push(await post(id, 'alice', `m${i}`))
    const bob = await stockClient(server, id, 'bob')
    try {
      await until(() => bob.conversation.conversationIndex.lastSeq() === 12)
      const window = bob.conversation.messages()
      expect(window.length).toBeLessThan(12)
      expect(window.at(-1)!.seq).toBe(12)
      bob.conversation.markRead()
      // The author's view (a fresh replica with the history paged in) shows every message read.
      await until(async () => {
        const alice = await openReplica(server!, id)
        const history = await get(`/api/conversations/${id}/history?limit=200`, 'alice')
        alice.addHistory(history.body.messages)
        const statuses = alice.messages().map((m) => m.status)
        return statuses.length === 12 && statuses.every((status) => status === 'read')
      })
    } finally {
      bob.destroy()
    }
  })
})

/** A fresh replica of the live document (alice's, read-only here), loaded over the stock protocol. */
async function openReplica(server: TestServer, id: string): Promise<Conversation> {
  const client = await stockClient(server, id, 'alice', new Y.Doc({ guid: id }))
  try {
    await until(() => client.provider.synced)
    const copy = new Y.Doc({ guid: id })
    Y.applyUpdate(copy, Y.encodeStateAsUpdate(client.doc))
    return new Conversation(copy, { userId: 'alice' })
  } finally {
    client.destroy()
  }
}

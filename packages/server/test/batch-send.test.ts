import { Writable } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { MemoryStore, type Store } from '../src/index.js'
import { startTestServer, type TestServer, tokenFor } from './helpers/server.js'

/** A memory store that records the updates of every append: one append is one transaction. */
function recordingStore(): { store: Store; appends: Uint8Array[][] } {
  const inner = new MemoryStore()
  const appends: Uint8Array[][] = []
  const store = new Proxy(inner, {
    get(target, property, receiver) {
      if (property === 'append') {
        return (docId: string, updates: readonly Uint8Array[], ...rest: unknown[]) => {
          appends.push([...updates])
          return (target.append as (...args: unknown[]) => unknown).call(target, docId, updates, ...rest)
        }
      }
      return Reflect.get(target, property, receiver)
    },
  })
  return { store, appends }
}

/**
 * Message ids written and ids stamped by the updates of one append: a message is a map entry
 * `m|<id>`; a stamp is an order-log entry, an array item holding ids (strings, not map values).
 */
function contentOf(updates: readonly Uint8Array[]): { written: string[]; stamped: string[] } {
  const written: string[] = []
  const stamped: string[] = []
  for (const update of updates) {
    for (const struct of Y.decodeUpdate(update).structs) {
      if (!(struct instanceof Y.Item) || !(struct.content instanceof Y.ContentAny)) continue
      const key = struct.parentSub
      if (key?.startsWith('m|')) written.push(key.slice(2))
      const values = struct.content.getContent()
      if (key === null && values.every((value) => typeof value === 'string'))
        stamped.push(...(values as string[]))
    }
  }
  return { written, stamped }
}

describe('batch send (issue 16): several messages, one transaction, a correlation id', () => {
  let server: TestServer | undefined
  afterEach(async () => {
    await server?.close()
    server = undefined
  })

  const post = async (id: string, user: string, body: unknown) => {
    const response = await fetch(`${server!.url}/api/conversations/${id}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await tokenFor(user)}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    // biome-ignore lint/suspicious/noExplicitAny: response bodies, checked by the assertions below
    return { status: response.status, body: (await response.json()) as any }
  }

  it('stores and stamps a batch in one append, in order, and echoes and logs its correlation id', async () => {
    const { store, appends } = recordingStore()
    const lines: Record<string, unknown>[] = []
    const stream = new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)))
        done()
      },
    })
    server = await startTestServer({ store, logger: { level: 'info', stream } })
    const id = await server.conversation('alice', { bob: 'member' })
    const before = appends.length
    const sent = await post(id, 'bob', {
      correlationId: 'order-42',
      messages: [{ text: 'first' }, { text: 'second' }, { text: 'third' }],
    })
    expect(sent.status).toBe(201)
    expect(sent.body.correlationId).toBe('order-42')
    expect(sent.body.messages.map((m: { text: string; seq: number }) => [m.text, m.seq])).toEqual([
      ['first', 1],
      ['second', 2],
      ['third', 3],
    ])
    expect(sent.body.messages[0]).toMatchObject({ author: 'bob', status: 'sent', id: expect.any(String) })
    const ids = sent.body.messages.map((m: { id: string }) => m.id)
    // One append holds the three messages and the stamp of all three: all or none.
    const batchAppends = appends.slice(before).map(contentOf)
    const holding = batchAppends.filter((content) => content.written.length > 0)
    expect(holding).toHaveLength(1)
    expect(holding[0]!.written.sort()).toEqual([...ids].sort())
    expect(holding[0]!.stamped).toEqual(ids)
    const logged = lines.find((line) => line.msg === 'batch stored')
    expect(logged).toMatchObject({ correlationId: 'order-42', messages: 3, conversation: id })
    expect(JSON.stringify(lines)).not.toContain('second')
  })

  it('writes none of a batch with one bad message, and refuses malformed batches', async () => {
    server = await startTestServer()
    const id = await server.conversation('alice', { bob: 'member', olga: 'observer' })
    const tooLong = await post(id, 'bob', { messages: [{ text: 'fine' }, { text: 'x'.repeat(17 * 1024) }] })
    expect(tooLong.status).toBe(413)
    expect(tooLong.body.error.message).toContain('message 2')
    const read = await fetch(`${server.url}/api/conversations/${id}`, {
      headers: { authorization: `Bearer ${await tokenFor('bob')}` },
    })
    expect(((await read.json()) as { messages: unknown[] }).messages).toEqual([])
    const refusals: [unknown, number][] = [
      [{ text: 'a', messages: [{ text: 'b' }] }, 400],
      [{}, 400],
      [{ messages: [] }, 400],
      [{ messages: Array.from({ length: 101 }, () => ({ text: 'x' })) }, 400],
      [{ messages: [{ text: '' }] }, 400],
      [{ text: 'one', correlationId: 'c1' }, 400],
      [{ messages: [{ text: 'x' }], correlationId: 'has spaces' }, 400],
    ]
    for (const [body, status] of refusals) {
      const answer = await post(id, 'bob', body)
      expect(answer.status, JSON.stringify(body).slice(0, 80)).toBe(status)
      expect(answer.body.error.code).toEqual(expect.any(String))
    }
    expect((await post(id, 'olga', { messages: [{ text: 'x' }] })).status).toBe(403)
    expect((await post(id, 'mallory', { messages: [{ text: 'x' }] })).status).toBe(403)
    // A single message keeps its shape.
    const single = await post(id, 'bob', { text: 'just one' })
    expect(single).toMatchObject({ status: 201, body: { text: 'just one', seq: 1, status: 'sent' } })
  })
})

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { addReaction, editMessage } from '@ticks/core'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { inboxEntry } from '../src/inbox/inbox-entry.js'
import { createConversation, createRoom, MemoryStore, SqliteStore, type Store } from '../src/index.js'
import { connectMemoryPeer, until as untilInMemory } from './helpers/memory-peer.js'
import {
  plainClientCopy,
  type StockClient,
  startTestServer,
  stockClient,
  type TestServer,
  tokenFor,
  until,
} from './helpers/server.js'

/**
 * Message actions (issue 17) on the server: the write rules over a real WebSocket, the REST routes
 * acting as the token's user, sealed messages (looked up in the store, redacted at compaction), and
 * mentions in the inbox summary.
 */

const docText = (doc: Y.Doc): string => Buffer.from(Y.encodeStateAsUpdate(doc)).toString('utf8')

describe('message actions over WebSocket', () => {
  let server: TestServer | undefined
  const clients: StockClient[] = []
  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy()
    await server?.close()
    server = undefined
  })

  const connect = async (id: string, userId: string) => {
    const client = await stockClient(server!, id, userId)
    clients.push(client)
    await until(() => client.provider.synced && client.conversation.title() === 'Test')
    return client
  }

  it('reply, react, edit and delete reach the other member; a deleted text leaves the server', async () => {
    server = await startTestServer()
    const id = await server.conversation('alice', { bob: 'member' })
    const alice = await connect(id, 'alice')
    const bob = await connect(id, 'bob')
    const question = alice.conversation.send('lunch @bob? the secret place')
    await until(() => bob.conversation.messages()[0]?.status === 'sent')
    expect(bob.conversation.message(question.id).mentions).toEqual(['bob'])
    const answer = bob.conversation.send('yes', { replyTo: question.id })
    bob.conversation.react(question.id, '👍')
    await until(() => alice.conversation.messages().length === 2)
    await until(() => alice.conversation.message(question.id).reactions !== undefined)
    expect(alice.conversation.message(answer.id).replyTo).toMatchObject({
      id: question.id,
      text: 'lunch @bob? the secret place',
    })
    expect(alice.conversation.message(question.id).reactions).toEqual({ '👍': ['bob'] })
    alice.conversation.edit(question.id, 'lunch @bob? the edited place')
    await until(() => bob.conversation.message(question.id).edited !== undefined)
    expect(bob.conversation.message(question.id)).toMatchObject({
      text: 'lunch @bob? the edited place',
      seq: 1,
    })
    alice.conversation.deleteForEveryone(question.id)
    await until(() => bob.conversation.message(question.id).deleted === true)
    expect(bob.conversation.message(answer.id).replyTo).toEqual({
      id: question.id,
      author: 'alice',
      deleted: true,
    })
    const copy = await plainClientCopy(server, id, 'bob')
    expect(docText(copy)).not.toContain('secret place')
    expect(docText(copy)).not.toContain('edited place')
    expect(alice.closes).toEqual([])
    expect(bob.closes).toEqual([])
  })

  it('refuses editing, deleting or reacting for another member, and resurrecting a deleted message; nothing is applied', async () => {
    server = await startTestServer()
    const id = await server.conversation('alice', { bob: 'member' })
    const alice = await connect(id, 'alice')
    const sent = alice.conversation.send('original')
    await until(() => alice.conversation.status(sent.id) === 'sent')
    const attempts: { user: string; write: (doc: Y.Doc) => void; code: number; reason: RegExp }[] = [
      {
        user: 'bob',
        write: (doc) => doc.getMap('u:bob').set(`e|${sent.id}`, { text: 'forged', editedAt: 1 }),
        code: 4403,
        reason: /another author/,
      },
      {
        user: 'bob',
        write: (doc) => doc.getMap('u:bob').set(`d|${sent.id}`, { deletedAt: 1, createdAt: 1, to: [] }),
        code: 4403,
        reason: /another author/,
      },
      {
        user: 'bob',
        write: (doc) => doc.getMap('u:alice').set(`x|${sent.id}|👍`, true),
        code: 4403,
        reason: /another user/,
      },
      {
        user: 'bob',
        write: (doc) => doc.getMap('u:alice').set(`e|${sent.id}`, { text: 'forged', editedAt: 1 }),
        code: 4403,
        reason: /another user/,
      },
    ]
    for (const { user, write, code, reason } of attempts) {
      const mallory = await connect(id, user)
      write(mallory.doc)
      await until(() => mallory.closes.length > 0)
      expect(mallory.closes[0]).toMatchObject({ code, reason: expect.stringMatching(reason) })
      mallory.destroy()
    }
    alice.conversation.deleteForEveryone(sent.id)
    await until(async () => docText(await plainClientCopy(server!, id, 'alice')).includes(`d|${sent.id}`))
    const again = await connect(id, 'alice')
    again.doc
      .getMap('u:alice')
      .set(`m|${sent.id}`, { id: sent.id, text: 'back from the dead', createdAt: 1, to: ['bob'] })
    await until(() => again.closes.length > 0)
    expect(again.closes[0]).toMatchObject({
      code: 4400,
      reason: expect.stringMatching(/already exists|deleted for everyone/),
    })
    const copy = await plainClientCopy(server, id, 'bob')
    expect(docText(copy)).not.toMatch(/forged|back from the dead|original/)
    expect(copy.getMap('u:bob').size).toBe(0)
    expect(alice.closes).toEqual([])
  })
})

describe('message actions over REST', () => {
  let server: TestServer | undefined
  afterEach(async () => {
    await server?.close()
    server = undefined
  })

  const call = async (method: string, path: string, user: string, body?: unknown) => {
    const response = await fetch(`${server!.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${await tokenFor(user)}`,
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    // biome-ignore lint/suspicious/noExplicitAny: response bodies, checked by the assertions below
    return { status: response.status, body: (await response.json()) as any }
  }

  it('acts as the token’s user: reply, react, edit, delete; refusals say why and apply nothing', async () => {
    server = await startTestServer()
    const id = await server.conversation('alice', { bob: 'member', olga: 'observer' })
    const base = `/api/conversations/${id}/messages`
    const first = await call('POST', base, 'alice', { text: 'hello @bob' })
    expect(first.status).toBe(201)
    const reply = await call('POST', base, 'bob', { text: 'hi', replyTo: first.body.id })
    expect(reply.status).toBe(201)
    expect((await call('POST', base, 'bob', { text: 'x', replyTo: 'nope' })).status).toBe(404)
    const m = first.body.id as string
    const emoji = encodeURIComponent('🎉')

    expect(await call('PUT', `${base}/${m}/reactions/${emoji}`, 'bob')).toEqual({
      status: 200,
      body: { id: m, added: true, reactions: { '🎉': ['bob'] } },
    })
    expect((await call('PUT', `${base}/${m}/reactions/${emoji}`, 'bob')).body.added).toBe(false)
    expect((await call('PUT', `${base}/${m}/reactions/${encodeURIComponent('a b')}`, 'bob')).status).toBe(400)
    expect((await call('PUT', `${base}/${m}/reactions/${emoji}`, 'olga')).status).toBe(403)
    expect((await call('PUT', `${base}/${m}/reactions/${emoji}`, 'mallory')).status).toBe(403)
    expect((await call('PUT', `${base}/nope/reactions/${emoji}`, 'bob')).status).toBe(404)
    // alice cannot take bob's reaction away: her DELETE removes only her own (none).
    expect((await call('DELETE', `${base}/${m}/reactions/${emoji}`, 'alice')).body).toMatchObject({
      removed: false,
      reactions: { '🎉': ['bob'] },
    })

    const forgedEdit = await call('PATCH', `${base}/${m}`, 'bob', { text: 'forged' })
    expect(forgedEdit).toMatchObject({ status: 403, body: { error: { code: 'not-owner' } } })
    expect((await call('DELETE', `${base}/${m}`, 'bob')).body).toMatchObject({ error: { code: 'not-owner' } })
    expect((await call('PATCH', `${base}/${m}`, 'alice', { text: '' })).status).toBe(400)
    const edited = await call('PATCH', `${base}/${m}`, 'alice', { text: 'hello again @bob' })
    expect(edited).toMatchObject({ status: 200, body: { id: m, text: 'hello again @bob', seq: 1 } })

    let view = await call('GET', `/api/conversations/${id}`, 'bob')
    expect(view.body.messages[0]).toMatchObject({
      id: m,
      text: 'hello again @bob',
      editedAt: expect.any(Number),
      mentions: ['bob'],
      reactions: { '🎉': ['bob'] },
      seq: 1,
    })
    expect(view.body.messages[1]).toMatchObject({ replyTo: { id: m, author: 'alice' } })

    expect(await call('DELETE', `${base}/${m}`, 'alice')).toMatchObject({
      status: 200,
      body: { deleted: true, seq: 1 },
    })
    expect((await call('PATCH', `${base}/${m}`, 'alice', { text: 'back' })).body).toMatchObject({
      error: { code: 'deleted' },
    })
    expect((await call('PATCH', `${base}/${m}`, 'alice', { text: 'back' })).status).toBe(409)
    expect((await call('DELETE', `${base}/${m}`, 'alice')).status).toBe(409)
    view = await call('GET', `/api/conversations/${id}`, 'bob')
    expect(view.body.messages[0]).toMatchObject({ id: m, text: '', deleted: true, seq: 1 })
    expect(view.body.messages[0].reactions).toBeUndefined()
    expect(JSON.stringify(view.body)).not.toContain('hello')
  })

  it('limits edits per minute per user with 429', async () => {
    server = await startTestServer()
    const id = await server.conversation('alice', { bob: 'member' })
    const base = `/api/conversations/${id}/messages`
    const m = (await call('POST', base, 'alice', { text: 'v0' })).body.id
    const statuses: number[] = []
    for (let i = 1; i <= 21; i++)
      statuses.push((await call('PATCH', `${base}/${m}`, 'alice', { text: `v${i}` })).status)
    expect(statuses.slice(0, 20).every((status) => status === 200)).toBe(true)
    expect(statuses[20]).toBe(429)
  })

  it('counts unread mentions in the inbox summary', async () => {
    const store = new MemoryStore()
    server = await startTestServer({ store })
    const id = await server.conversation('alice', { bob: 'member', carol: 'member' })
    const base = `/api/conversations/${id}/messages`
    await call('POST', base, 'alice', { text: 'hi @bob and @carol' })
    await call('POST', base, 'alice', { text: 'only @carol' })
    await call('POST', base, 'alice', { text: 'nobody' })
    const [summary] = await store.listConversations('bob')
    expect(inboxEntry(summary!, 'bob')).toMatchObject({ unread: 3, mentions: 1 })
    expect(inboxEntry(summary!, 'carol')).toMatchObject({ unread: 3, mentions: 2 })
    expect(inboxEntry(summary!, 'alice')).toMatchObject({ unread: 0 })
    expect(inboxEntry(summary!, 'alice').mentions).toBeUndefined()
  })
})

describe('actions on sealed messages, and the history they leave', () => {
  const dirs: string[] = []
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
  })

  const stores: [string, () => Store][] = [
    ['memory', () => new MemoryStore()],
    [
      'sqlite',
      () => {
        const dir = mkdtempSync(join(tmpdir(), 'ticks-actions-'))
        dirs.push(dir)
        return new SqliteStore(join(dir, 'ticks.db'))
      },
    ],
  ]

  for (const [name, open] of stores) {
    it(`an edit and a deletion of a sealed message, judged against the store; its text leaves the stored history and document (${name})`, async () => {
      const store = open()
      const id = await createConversation(store, { title: 'T', members: { alice: 'owner', bob: 'member' } })
      const options = { id, store, historyWindow: 2, compaction: { maxEntries: 0, maxBytes: 0 } }
      const room = await createRoom(options)
      const alice = connectMemoryPeer(room, 'alice')
      await untilInMemory(() => alice.conversation.title() === 'T')
      const sent = ['the sealed secret', 'the edited one', 'third', 'fourth', 'fifth'].map((text) =>
        alice.conversation.send(text),
      )
      await untilInMemory(() => room.index.lastSeq() === 5 && room.index.sealedThrough >= 2)
      await room.close()

      // A room that never saw them sealed: the write rules ask the store whose they are.
      const reloaded = await createRoom(options)
      const writer = connectMemoryPeer(reloaded, 'alice', new Y.Doc({ guid: id }))
      await untilInMemory(() => writer.conversation.title() === 'T')
      writer.conversation.addHistory(await store.history(id, 3, 10))
      writer.conversation.edit(sent[1]!.id, 'edited after sealing')
      writer.conversation.deleteForEveryone(sent[0]!.id)
      const forger = connectMemoryPeer(reloaded, 'bob', new Y.Doc({ guid: id }))
      await untilInMemory(() => forger.conversation.title() === 'T')
      forger.doc.getMap('u:bob').set(`e|${sent[1]!.id}`, { text: 'forged', editedAt: 1 })
      await untilInMemory(() => forger.closed !== null)
      expect(forger.closed).toMatchObject({ code: 4403 })
      // REST acts through the room, which keeps no sealed message: the target comes from the store.
      const third = sent[2]!.id
      expect(await reloaded.actAs('bob', third, (context) => addReaction(context, third, '👀'))).toBe(true)
      const [reply] = await reloaded.sendManyAs('bob', ['about that'], { replyTo: third })
      expect(reloaded.index.messages.get(reply!.id)?.record.replyTo).toEqual({ id: third, author: 'alice' })
      await expect(
        reloaded.actAs('bob', third, (context) => editMessage(context, third, 'not mine')),
      ).rejects.toMatchObject({ code: 'not-owner' })
      // More traffic: a commit compacts, and the compaction redacts.
      writer.conversation.send('sixth')
      await untilInMemory(
        async () => (await store.history(id, 3, 10)).some((record) => record.deleted === true),
        5000,
      )
      expect(writer.closed).toBeNull()

      const history = await store.history(id, 3, 10)
      expect(history.map(({ id, text, deleted }) => ({ id, text, deleted }))).toEqual([
        { id: sent[0]!.id, text: '', deleted: true },
        { id: sent[1]!.id, text: 'the edited one', deleted: undefined },
      ])
      const stored = new Y.Doc({ guid: id })
      for (const { update } of (await store.load(id))!) Y.applyUpdate(stored, update)
      expect(docText(stored)).not.toContain('the sealed secret')
      expect(docText(stored)).toContain('edited after sealing')

      // Whoever pages back sees the deletion and the edit.
      const bob = connectMemoryPeer(reloaded, 'bob', new Y.Doc({ guid: id }))
      await untilInMemory(() => bob.conversation.title() === 'T')
      bob.conversation.addHistory(await store.history(id, 4, 10))
      expect(bob.conversation.messages().slice(0, 3)).toMatchObject([
        { id: sent[0]!.id, seq: 1, text: '', deleted: true },
        { id: sent[1]!.id, seq: 2, text: 'edited after sealing', edited: {} },
        { id: sent[2]!.id, seq: 3, reactions: { '👀': ['bob'] } },
      ])
      await reloaded.close()
      await store.close()
    })
  }
})

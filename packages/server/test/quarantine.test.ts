import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Conversation, initConversation } from '@ticks/core'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { PostgresStore, SNAPSHOT_ENTRY, type StoredEntry } from '../src/index.js'
import { SQLITE_FILE } from '../src/plugins/store.js'
import { SqliteLog } from '../src/store/sqlite-log.js'
import { buildDocument, loadDocument } from '../src/sync/load-document.js'
import { runCliToExit } from './helpers/cli-process.js'
import { fromHex, ISSUE_FRAMES, ISSUE_STORED } from './helpers/issue-12-frames.js'
import { startPostgres } from './helpers/postgres.js'
import { startTestServer, type TestServer, tokenFor, until } from './helpers/server.js'

/**
 * Issue 12: loading never bricks a conversation. A stored entry that fails to apply is set aside in
 * the store's quarantine, counted and logged, and the conversation opens from everything else.
 */

/** The update inside a y-websocket update frame: type 0, sub-type 2, length, payload. */
const payloadOf = (frameHex: string) => fromHex(frameHex).subarray(3)

/** Entries that each break a load: two throw inside Yjs, two leave clocks past the bound. */
const POISON = [...ISSUE_STORED.map(fromHex), ...Object.values(ISSUE_FRAMES).map(payloadOf)]

/** An honest log: a conversation's creation, then one message per update. */
function honestLog(texts: string[]): { doc: Y.Doc; entries: StoredEntry[] } {
  const doc = new Y.Doc({ guid: 'c' })
  const entries: StoredEntry[] = []
  doc.on('update', (update: Uint8Array) => entries.push({ entry: entries.length + 1, update }))
  initConversation(doc, { title: 'T', members: { alice: 'owner', bob: 'member' } })
  const alice = new Conversation(doc, { userId: 'alice', replicaId: 'a' })
  for (const text of texts) alice.send(text)
  return { doc, entries }
}

const textsOf = (doc: Y.Doc) =>
  new Conversation(doc, { userId: 'bob', replicaId: 'b' }).messages().map((m) => m.text)

describe('buildDocument', () => {
  it('applies a healthy log at once and quarantines nothing', () => {
    const { entries } = honestLog(['one', 'two'])
    const { doc, quarantined } = buildDocument('c', entries)
    expect(quarantined).toEqual([])
    expect(textsOf(doc)).toEqual(['one', 'two'])
  })

  it('sets aside every poisoned entry, wherever it sits, and builds from the rest', () => {
    const { entries } = honestLog(['one', 'two', 'three'])
    const mixed: StoredEntry[] = [
      { entry: SNAPSHOT_ENTRY, update: POISON[0]! },
      ...entries.slice(0, 2),
      { entry: 50, update: POISON[1]! },
      { entry: 51, update: POISON[2]! },
      ...entries.slice(2).map(({ entry, update }) => ({ entry: entry + 100, update })),
      { entry: 200, update: POISON[3]! },
      { entry: 201, update: new Uint8Array([9, 9, 9]) },
    ]
    const { doc, quarantined } = buildDocument('c', mixed)
    expect(quarantined.map(({ entry }) => entry)).toEqual([SNAPSHOT_ENTRY, 50, 51, 200, 201])
    for (const { reason } of quarantined) expect(reason).not.toBe('')
    expect(textsOf(doc)).toEqual(['one', 'two', 'three'])
    Y.decodeStateVector(Y.encodeStateVector(doc))
  })

  it('sets aside an entry whose structs would wait on clocks the document lacks', () => {
    const { doc: source, entries: log } = honestLog(['one'])
    const entries = [...log]
    const before = Y.encodeStateVector(source)
    new Conversation(source, { userId: 'alice', replicaId: 'a' }).send('two')
    const middle = Y.encodeStateAsUpdate(source, before)
    const before2 = Y.encodeStateVector(source)
    new Conversation(source, { userId: 'alice', replicaId: 'a' }).send('three')
    const dependent = Y.encodeStateAsUpdate(source, before2)
    // `middle` was lost; `dependent` continues the same client's clocks after it.
    const { doc, quarantined } = buildDocument('c', [...entries, { entry: 90, update: dependent }])
    expect(quarantined).toEqual([{ entry: 90, reason: expect.stringMatching(/pending/) }])
    expect(textsOf(doc)).toEqual(['one'])
    expect(middle.byteLength).toBeGreaterThan(0)
  })
})

const runQuarantineCli = (args: string[]) => runCliToExit(['quarantine', ...args])

describe('a conversation stored with poisoned entries (written straight into SQLite)', () => {
  let server: TestServer | undefined
  let dataDir: string | undefined
  afterEach(async () => {
    await server?.close()
    server = undefined
    if (dataDir) rmSync(dataDir, { recursive: true, force: true })
  })

  const metric = async (name: string) => {
    const line = (await server!.app.inject({ url: '/metrics' })).body
      .split('\n')
      .find((l) => l.startsWith(`${name} `))
    return Number(line?.split(' ')[1])
  }

  it('loads with them quarantined and everything else intact; an operator lists and drops them', {
    timeout: 60_000,
  }, async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'ticks-quarantine-'))
    server = await startTestServer({ store: 'sqlite', data: dataDir })
    const id = await server.conversation('alice', { bob: 'member' })
    const post = async (user: string, text: string) => {
      const response = await fetch(`${server!.url}/api/conversations/${id}/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenFor(user)}` },
        body: JSON.stringify({ text }),
      })
      expect(response.status).toBe(201)
    }
    await post('alice', 'first')
    await post('bob', 'second')
    await server.close()
    server = undefined

    // As an older server (or a bug) left it: poison, then an honest write after it.
    const log = new SqliteLog(join(dataDir, SQLITE_FILE))
    const doc = new Y.Doc({ guid: id })
    for (const { update } of log.load(id)!) Y.applyUpdate(doc, update)
    const before = Y.encodeStateVector(doc)
    new Conversation(doc, { userId: 'bob', replicaId: 'b' }).send('written after the poison')
    log.appendBatch([
      { docId: id, updates: [...POISON, Y.encodeStateAsUpdate(doc, before)], summary: undefined },
    ])
    log.close()

    server = await startTestServer({ store: 'sqlite', data: dataDir })
    const read = async () => {
      const response = await fetch(`${server!.url}/api/conversations/${id}`, {
        headers: { authorization: `Bearer ${await tokenFor('alice')}` },
      })
      return {
        status: response.status,
        body: (await response.json()) as { messages: { text: string; seq: number }[] },
      }
    }
    const first = await read()
    expect(first.status).toBe(200)
    // The message stored without a stamp is stamped by the reloaded room, a commit later.
    await until(async () => (await read()).body.messages.every(({ seq }) => seq !== null))
    expect((await read()).body.messages.map(({ text, seq }) => [seq, text])).toEqual([
      [1, 'first'],
      [2, 'second'],
      [3, 'written after the poison'],
    ])
    expect(await metric('ticks_quarantined_entries_total')).toBe(POISON.length)
    await server.close()

    // Quarantined once, for good: the next start loads cleanly and the stamp made at load is kept.
    server = await startTestServer({ store: 'sqlite', data: dataDir })
    expect((await read()).body.messages.map(({ seq }) => seq)).toEqual([1, 2, 3])
    expect(await metric('ticks_quarantined_entries_total')).toBe(0)

    const listed = await runQuarantineCli(['list', '--data', dataDir, '--json'])
    expect(listed).toMatchObject({ code: 0, stderr: '' })
    const entries = JSON.parse(listed.stdout) as {
      id: number
      docId: string
      bytes: number
      reason: string
    }[]
    expect(entries).toHaveLength(POISON.length)
    expect(entries.map(({ bytes }) => bytes)).toEqual(POISON.map((update) => update.byteLength))
    expect(entries.every(({ docId }) => docId === id)).toBe(true)

    const dropped = await runQuarantineCli(['drop', String(entries[0]!.id), '--data', dataDir])
    expect(dropped).toMatchObject({ code: 0, stdout: `dropped quarantined entry ${entries[0]!.id}\n` })
    const again = await runQuarantineCli(['drop', String(entries[0]!.id), '--data', dataDir])
    expect(again.code).toBe(1)
    expect(again.stderr).toMatch(/no quarantined entry/)
    const table = await runQuarantineCli(['list', '--data', dataDir, '--conversation', id])
    expect(table.stdout.trim().split('\n')).toHaveLength(POISON.length - 1)
    expect((await runQuarantineCli(['list', '--data', dataDir, '--conversation', 'other'])).stdout).toBe(
      'nothing quarantined\n',
    )
    expect((await runQuarantineCli(['purge', '--data', dataDir])).code).toBe(2)
  })
})

describe('the quarantine of a PostgreSQL store (a real server in a temp dir)', () => {
  it('is listed and dropped by the same command, given --store', { timeout: 60_000 }, async () => {
    const postgres = await startPostgres()
    try {
      const url = await postgres.createDatabase()
      const store = await PostgresStore.open({ connectionString: url })
      const { entries } = honestLog(['kept'])
      await store.append('c', [...entries.map(({ update }) => update), POISON[0]!])
      const loaded = await loadDocument(store, 'c', () => undefined)
      expect(textsOf(loaded!.doc)).toEqual(['kept'])
      await store.close()

      const listed = await runQuarantineCli(['list', '--store', url, '--json'])
      expect(listed.code).toBe(0)
      const quarantined = JSON.parse(listed.stdout) as { id: number; docId: string; bytes: number }[]
      expect(quarantined).toMatchObject([{ docId: 'c', bytes: POISON[0]!.byteLength }])
      const dropped = await runQuarantineCli(['drop', String(quarantined[0]!.id), '--store', url])
      expect(dropped).toMatchObject({ code: 0, stdout: `dropped quarantined entry ${quarantined[0]!.id}\n` })
      expect((await runQuarantineCli(['list', '--store', url])).stdout).toBe('nothing quarantined\n')
      // A store that cannot be reached: a clear error with the password left out.
      const unreachable = url.replace(/:\d+\//, ':1/').replace('//', '//ops:secret@')
      const failed = await runQuarantineCli(['list', '--store', unreachable])
      expect(failed.code).toBe(1)
      expect(failed.stderr).toMatch(/cannot open the store/)
      expect(failed.stderr).not.toContain('secret')
      expect((await runQuarantineCli(['list', '--store', 'memory'])).code).toBe(2)
    } finally {
      await postgres.close()
    }
  })
})

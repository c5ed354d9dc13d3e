import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Conversation, randomId } from '@ticks/core'
import { afterAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { serverCommand } from './helpers/cli-process.js'
import { JWT_SECRET, tokenFor, until } from './helpers/server.js'

const packageDir = fileURLToPath(new URL('..', import.meta.url))
const ROUNDS = 10

interface Child {
  process: ChildProcess
  url: string
  wsUrl: string
  exited: Promise<number | null>
}

async function startChild(dataDir: string, extraArgs: string[] = []): Promise<Child> {
  const child = spawn(
    process.execPath,
    [
      ...serverCommand(),
      ...['--port', '0', '--host', '127.0.0.1', '--data', dataDir, '--jwt-secret', JWT_SECRET],
      ...extraArgs,
    ],
    { cwd: packageDir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TICKS_STORE: 'sqlite' } },
  )
  children.add(child)
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      children.delete(child)
      resolve(code)
    }),
  )
  let output = ''
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 20_000)
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      const match = /Ticks server listening on (http:\/\/[\d.:]+)/.exec(output)
      if (match) {
        clearTimeout(timer)
        resolve(match[1]!)
      }
    })
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.on('exit', () => reject(new Error(`server exited early:\n${output}`)))
  })
  return { process: child, url, wsUrl: url.replace(/^http/, 'ws'), exited }
}

const children = new Set<ChildProcess>()
afterAll(() => {
  for (const child of children) child.kill('SIGKILL')
})

/** A replica whose doc outlives server restarts; it records every (message, seq) it ever saw as sent. */
function writerReplica(conversationId: string) {
  const doc = new Y.Doc({ guid: conversationId })
  const conversation = new Conversation(doc, { userId: 'alice', replicaId: 'writer' })
  const seenSent = new Map<string, number>()
  const violations: string[] = []
  conversation.onChange(() => {
    for (const message of conversation.messages()) {
      if (message.seq === undefined) continue
      const before = seenSent.get(message.id)
      if (before !== undefined && before !== message.seq)
        violations.push(`${message.id}: ${before} → ${message.seq}`)
      seenSent.set(message.id, message.seq)
    }
  })
  return { doc, conversation, seenSent, violations }
}

/** Three messages in one Yjs transaction (Conversation.send reads back its message, so it cannot nest). */
function writeBurst(doc: Y.Doc): void {
  doc.transact(() => {
    for (let i = 0; i < 3; i++) {
      const id = randomId()
      doc.getMap('u:alice').set(`m|${id}`, { id, text: `burst ${i}`, createdAt: Date.now(), to: ['bob'] })
    }
  })
}

async function connect(child: Child, doc: Y.Doc, userId: string): Promise<WebsocketProvider> {
  return new WebsocketProvider(`${child.wsUrl}/sync`, doc.guid, doc, {
    params: { token: await tokenFor(userId) },
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    disableBc: true,
  })
}

/** A fresh replica's view of the server after a restart: message id → seq. */
async function storedSeqs(child: Child, conversationId: string): Promise<Map<string, number | undefined>> {
  const doc = new Y.Doc({ guid: conversationId })
  const conversation = new Conversation(doc, { userId: 'bob' })
  const provider = await connect(child, doc, 'bob')
  try {
    await until(() => provider.synced, 10_000, 'verifier synced')
    return new Map(conversation.messages().map((m) => [m.id, m.seq]))
  } finally {
    provider.destroy()
    conversation.destroy()
  }
}

/**
 * The window (a fresh replica) plus every sealed page (REST): message id → seq. Fails on an id
 * twice, or a seq given to two messages.
 */
async function allSeqs(child: Child, conversationId: string): Promise<Map<string, number>> {
  const live = await storedSeqs(child, conversationId)
  const all = new Map<string, number>()
  const add = (id: string, seq: number | undefined) => {
    if (seq === undefined) return
    expect(all.has(id), `${id} twice`).toBe(false)
    all.set(id, seq)
  }
  let before: number | undefined
  for (;;) {
    const query = before === undefined ? 'limit=200' : `before=${before}&limit=200`
    const response = await fetch(`${child.url}/api/conversations/${conversationId}/history?${query}`, {
      headers: { authorization: `Bearer ${await tokenFor('bob')}` },
    })
    const { messages } = (await response.json()) as { messages: { id: string; seq: number }[] }
    if (messages.length === 0) break
    for (const { id, seq } of messages) add(id, seq)
    before = messages[0]!.seq
  }
  for (const [id, seq] of live) add(id, seq)
  expect(new Set(all.values()).size, 'a seq given twice').toBe(all.size)
  return all
}

async function createConversationOn(child: Child): Promise<string> {
  const response = await fetch(`${child.url}/api/conversations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenFor('alice')}` },
    body: JSON.stringify({ title: 'crash', members: ['bob'] }),
  })
  return ((await response.json()) as { id: string }).id
}

describe('crash durability (server as a child process on SQLite)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ticks-crash-'))
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

  it(`kill -9 at random moments under write load, ${ROUNDS} rounds: every message seen as sent survives with its seq`, async () => {
    let child = await startChild(dataDir)
    const conversationId = await createConversationOn(child)
    const writer = writerReplica(conversationId)
    for (let round = 0; round < ROUNDS; round++) {
      const provider = await connect(child, writer.doc, 'alice')
      await until(() => provider.synced, 10_000, 'writer synced')
      const writeFor = 80 + Math.floor(Math.random() * 250)
      const until_ = Date.now() + writeFor
      while (Date.now() < until_) {
        // Mostly single sends, sometimes a burst in one transaction.
        if (Math.random() < 0.2) writeBurst(writer.doc)
        else writer.conversation.send(`round ${round}`)
        await new Promise((resolve) => setTimeout(resolve, 2 + Math.random() * 4))
      }
      child.process.kill('SIGKILL')
      await child.exited
      provider.destroy()
      child = await startChild(dataDir)
      const stored = await storedSeqs(child, conversationId)
      for (const [id, seq] of writer.seenSent) expect(stored.get(id), `message ${id}`).toBe(seq)
    }
    expect(writer.violations).toEqual([])
    expect(writer.seenSent.size).toBeGreaterThan(ROUNDS) // the load really wrote and stamped things

    // Reconnect once more: everything the writer still had pending is stamped now.
    const provider = await connect(child, writer.doc, 'alice')
    await until(() => writer.conversation.messages().every((m) => m.status !== 'pending'), 15_000, 'all sent')
    provider.destroy()
    child.process.kill('SIGTERM')
    expect(await child.exited).toBe(0)
  }, 90_000)

  it('kill -9 while the sequencer seals: every message once, in the window or the history, with its seq', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ticks-seal-crash-'))
    const sealing = ['--history-window', '12']
    try {
      let child = await startChild(dir, sealing)
      const conversationId = await createConversationOn(child)
      const writer = writerReplica(conversationId)
      for (let round = 0; round < 6; round++) {
        const provider = await connect(child, writer.doc, 'alice')
        await until(() => provider.synced, 10_000, 'writer synced')
        const until_ = Date.now() + 100 + Math.floor(Math.random() * 200)
        while (Date.now() < until_) {
          writer.conversation.send(`round ${round}`)
          await new Promise((resolve) => setTimeout(resolve, 2 + Math.random() * 3))
        }
        child.process.kill('SIGKILL')
        await child.exited
        provider.destroy()
        child = await startChild(dir, sealing)
        const everything = await allSeqs(child, conversationId)
        for (const [id, seq] of writer.seenSent) expect(everything.get(id), `message ${id}`).toBe(seq)
      }
      expect(writer.violations).toEqual([])
      // Pending ones get stamped after the last restart; then nothing is missing or doubled.
      const provider = await connect(child, writer.doc, 'alice')
      await until(
        () => writer.conversation.messages().every((m) => m.status !== 'pending'),
        15_000,
        'all sent',
      )
      provider.destroy()
      const everything = await allSeqs(child, conversationId)
      const seqs = [...everything.values()].sort((a, b) => a - b)
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1))
      for (const message of writer.conversation.messages())
        expect(everything.get(message.id)).toBe(message.seq)
      expect(writer.conversation.sealedThrough()).toBeGreaterThan(0) // sealing really happened
      child.process.kill('SIGTERM')
      expect(await child.exited).toBe(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 90_000)

  it('a clean SIGTERM loses nothing the server had received', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ticks-term-'))
    try {
      let child = await startChild(dir)
      const conversationId = await createConversationOn(child)
      const writer = writerReplica(conversationId)
      const bobDoc = new Y.Doc({ guid: conversationId })
      const bob = new Conversation(bobDoc, { userId: 'bob' })
      const [alice, bobProvider] = [
        await connect(child, writer.doc, 'alice'),
        await connect(child, bobDoc, 'bob'),
      ]
      await until(() => alice.synced && bobProvider.synced, 10_000, 'synced')
      const sent = Array.from({ length: 30 }, (_, i) => writer.conversation.send(`m${i}`).id)
      // Bob holding them proves the server applied them; do not wait for their stamps.
      await until(() => bob.messages().length === sent.length, 10_000, 'bob received all')
      child.process.kill('SIGTERM')
      expect(await child.exited).toBe(0)
      alice.destroy()
      bobProvider.destroy()
      child = await startChild(dir)
      const stored = await storedSeqs(child, conversationId)
      for (const id of sent) expect(stored.get(id), `message ${id}`).toEqual(expect.any(Number))
      for (const [id, seq] of writer.seenSent) expect(stored.get(id)).toBe(seq)
      child.process.kill('SIGTERM')
      expect(await child.exited).toBe(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 30_000)
})

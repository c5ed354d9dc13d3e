import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  Conversation,
  ConversationIndex,
  compactSealedEntries,
  raiseWatermark,
  sealThrough,
} from '@ticks/core'
import { historyRecordOf } from '@ticks/server'
import * as Y from 'yjs'
import { conversationDoc, MEMBERS } from './core-storage.js'
import { KINDS, LABEL, type ServerKind, startHosted, tokenFor } from './servers.js'
import { median, ratio, table } from './stats.js'
import { connectWire } from './wire.js'

/**
 * Issue 15, bounded conversations: what opening a conversation costs a fresh client once its
 * history is sealed, at 10k, 100k and 1M messages (5 members, all read), beside the whole-document
 * cost of the same history (what @y/websocket-server and Hocuspocus send, and Yjs loading it).
 *
 * Ticks is seeded as its sequencer leaves a conversation: the live document (a 1,000-message
 * window, sealed entries compacted) and the history in its SQLite store. Open: from the socket
 * opening to the first screen (the last 50 messages with their statuses) on a fresh Y.Doc. Page:
 * `GET …/history?before=&limit=50`, on a warm room.
 */

const WINDOW = 1000
const SCREEN = 50

interface Sizes {
  messages: number
  /** Whole document with every message. */
  fullBytes: number
  /** Yjs loading the whole document, ms (median of 3). */
  fullLoadMs: number
  liveBytes: number
}

interface OpenSample {
  ms: number
  bytes: number
}

/** The whole history as one document, and as Ticks keeps it: a sealed live document plus pages. */
function prepare(messages: number, dir: string) {
  mkdirSync(dir, { recursive: true })
  const doc = conversationDoc(messages)
  const index = new ConversationIndex(doc)
  // All read: every member's device raised its watermark to the end.
  for (const user of MEMBERS) raiseWatermark(index, user, `${user}-phone`, { d: messages, r: messages })
  const full = Y.encodeStateAsUpdate(doc)
  const loads: number[] = []
  for (let i = 0; i < 3; i++) {
    const started = performance.now()
    const copy = new Y.Doc()
    Y.applyUpdate(copy, full)
    loads.push(performance.now() - started)
    copy.destroy()
  }
  const sealed = sealThrough(index, messages - WINDOW)
  const live = compactSealedEntries(doc)
  index.destroy()
  doc.destroy()
  const history = sealed.map(historyRecordOf)
  const files = {
    full: join(dir, `full-${messages}.bin`),
    live: join(dir, `live-${messages}.bin`),
    history: join(dir, `history-${messages}.json`),
  }
  writeFileSync(files.full, full)
  writeFileSync(files.live, live)
  writeFileSync(files.history, JSON.stringify(history))
  const sizes: Sizes = {
    messages,
    fullBytes: full.byteLength,
    fullLoadMs: median(loads),
    liveBytes: live.byteLength,
  }
  return { files, sizes }
}

/** A fresh client: open the socket, sync, and show the last screen with statuses. */
async function openOnce(kind: ServerKind, url: string, room: string): Promise<OpenSample> {
  const doc = new Y.Doc({ guid: room })
  const started = performance.now()
  const client = connectWire(kind, url, room, MEMBERS[1]!, doc)
  await client.synced
  const conversation = new Conversation(doc, { userId: MEMBERS[1]! })
  const screen = conversation.messages().slice(-SCREEN)
  if (screen.length < SCREEN || screen.some((m) => m.status !== 'read')) {
    throw new Error(`${kind}: the first screen is not ${SCREEN} read messages`)
  }
  const ms = performance.now() - started
  const bytes = client.bytesIn
  conversation.destroy()
  await client.close()
  doc.destroy()
  return { ms, bytes }
}

interface KindResult {
  kind: ServerKind
  open: OpenSample[]
  /** Server heap for the open room: after seeding and opening it, minus before seeding. */
  roomHeapBytes: number
  pageMs: number[]
}

async function measure(kind: ServerKind, messages: number, files: ReturnType<typeof prepare>['files']) {
  const server = await startHosted(kind)
  const room = `bounded-${messages}`
  try {
    // Before seeding: @y/websocket-server holds the document from then on, Ticks from the first open.
    const before = (await server.request({ op: 'memory' })) as { heapUsed: number }
    if (kind === 'ticks') {
      await server.request({ op: 'seedSealed', id: room, file: files.live, historyFile: files.history })
    } else {
      await server.request({ op: 'seed', id: room, file: files.full })
    }
    const open: OpenSample[] = []
    for (let run = 0; run < 5; run++) open.push(await openOnce(kind, server.url, room))
    const after = (await server.request({ op: 'memory' })) as { heapUsed: number }
    const pageMs: number[] = []
    if (kind === 'ticks') {
      const http = server.url.replace(/^ws/, 'http')
      for (let run = 0; run < 20; run++) {
        const before = Math.max(2, messages - WINDOW - run * SCREEN * 37)
        const started = performance.now()
        const response = await fetch(
          `${http}/api/conversations/${room}/history?before=${before}&limit=${SCREEN}`,
          {
            headers: { authorization: `Bearer ${tokenFor(MEMBERS[1]!)}` },
          },
        )
        const body = (await response.json()) as { messages: unknown[] }
        pageMs.push(performance.now() - started)
        if (body.messages.length !== Math.min(SCREEN, before - 1))
          throw new Error('ticks: a short history page')
      }
    }
    return { kind, open, roomHeapBytes: after.heapUsed - before.heapUsed, pageMs } satisfies KindResult
  } finally {
    await server.close()
  }
}

export async function runBounded(sizes: readonly number[]): Promise<string> {
  const dir = join(tmpdir(), `ticks-bench-bounded-${process.pid}`)
  const rows: (string | number)[][] = []
  try {
    for (const messages of sizes) {
      const { files, sizes: measured } = prepare(messages, dir)
      const results: KindResult[] = []
      for (const kind of KINDS) results.push(await measure(kind, messages, files))
      const firstOpen = (r: KindResult) => r.open[0]!
      const warmMs = (r: KindResult) => median(r.open.slice(1).map((s) => s.ms))
      for (const r of results) {
        rows.push([
          `${messages.toLocaleString()} · ${LABEL[r.kind]}`,
          firstOpen(r).ms,
          warmMs(r),
          firstOpen(r).bytes / 1024,
          r.roomHeapBytes / 1024 / 1024,
          r.kind === 'ticks' ? measured.liveBytes / 1024 : measured.fullBytes / 1024,
          r.pageMs.length > 0 ? median(r.pageMs) : '',
        ])
      }
      const [ticks, ...baselines] = results as [KindResult, ...KindResult[]]
      for (const base of baselines) {
        rows.push([
          `${messages.toLocaleString()} · ratio Ticks / ${base.kind}`,
          ratio(firstOpen(ticks).ms, firstOpen(base).ms),
          ratio(warmMs(ticks), warmMs(base)),
          ratio(firstOpen(ticks).bytes, firstOpen(base).bytes),
          ratio(ticks.roomHeapBytes, base.roomHeapBytes),
          ratio(measured.liveBytes, measured.fullBytes),
          '',
        ])
      }
      rows.push([
        `${messages.toLocaleString()} · Yjs loads the whole document`,
        measured.fullLoadMs,
        '',
        measured.fullBytes / 1024,
        '',
        '',
        '',
      ])
      rmSync(dir, { recursive: true, force: true })
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  return table(
    `Bounded conversations: a fresh client opens (first screen of ${SCREEN} with statuses), window ${WINDOW}, all read`,
    [
      'messages · server',
      'first open ms',
      'warm open ms',
      'open KiB',
      'room heap MiB',
      'live doc KiB',
      'page of 50 ms',
    ],
    rows,
  )
}

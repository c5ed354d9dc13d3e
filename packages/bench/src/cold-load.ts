import { rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as Y from 'yjs'
import { conversationDoc, MEMBERS } from './core-storage.js'
import { KINDS, LABEL, type ServerKind, startHosted } from './servers.js'
import { median, ratio, table } from './stats.js'
import { connectWire } from './wire.js'

/**
 * Issue 3, cold load: a fresh client (empty Y.Doc) joins a conversation of N messages (5 members,
 * the order log stamped). Every server is seeded with the same document: Ticks in its SQLite
 * store (one stored entry), @y/websocket-server in its in-memory doc, Hocuspocus through its
 * onLoadDocument hook. Time from opening the socket to the sync-step-2 reply integrated; bytes
 * received. The first join loads the room (Ticks: from SQLite; Hocuspocus: from the hook, every
 * time, since it unloads a document with no sockets); the later ones find it in memory.
 */

interface ColdResult {
  kind: ServerKind
  first: { ms: number; bytes: number }
  warm: { ms: number; bytes: number }[]
}

async function coldOne(kind: ServerKind, file: string, runs: number): Promise<ColdResult> {
  const server = await startHosted(kind)
  try {
    await server.request({ op: 'seed', id: 'cold', file })
    const samples: { ms: number; bytes: number }[] = []
    for (let run = 0; run < runs; run++) {
      const doc = new Y.Doc({ guid: 'cold' })
      const started = performance.now()
      const client = connectWire(kind, server.url, 'cold', MEMBERS[1]!, doc)
      await client.synced
      samples.push({ ms: performance.now() - started, bytes: client.bytesIn })
      if (doc.getArray('server').length === 0) throw new Error(`${kind}: the client got no order log`)
      await client.close()
      doc.destroy()
      await new Promise((resolve) => setTimeout(resolve, 300))
    }
    return { kind, first: samples[0]!, warm: samples.slice(1) }
  } finally {
    await server.close()
  }
}

export async function runColdLoad(messages: number, runs = 4): Promise<string> {
  const doc = conversationDoc(messages)
  const update = Y.encodeStateAsUpdate(doc)
  doc.destroy()
  const file = join(tmpdir(), `ticks-bench-cold-${process.pid}.bin`)
  writeFileSync(file, update)
  const results: ColdResult[] = []
  try {
    for (const kind of KINDS) results.push(await coldOne(kind, file, runs))
  } finally {
    rmSync(file, { force: true })
  }
  const warmMs = (r: ColdResult) => median(r.warm.map((s) => s.ms))
  const rows: (string | number)[][] = results.map((r) => [
    LABEL[r.kind],
    r.first.ms,
    warmMs(r),
    r.first.bytes / 1024,
    r.first.bytes / messages,
  ])
  const [ticks, ...baselines] = results as [ColdResult, ...ColdResult[]]
  for (const base of baselines) {
    rows.push([
      `ratio Ticks / ${base.kind}`,
      ratio(ticks.first.ms, base.first.ms),
      ratio(warmMs(ticks), warmMs(base)),
      ratio(ticks.first.bytes, base.first.bytes),
      '',
    ])
  }
  return [
    table(
      `Cold load: a fresh client joins a ${messages.toLocaleString()}-message conversation (document ${(update.byteLength / 1024 / 1024).toFixed(1)} MiB)`,
      [
        'server',
        'first join ms (room loads)',
        `warm join ms (median of ${runs - 1})`,
        'KiB received',
        'bytes / message',
      ],
      rows,
    ),
    '\nTime: new socket → sync-step-2 integrated in the client doc (includes the client applying it). @y/websocket-server keeps the seeded doc in memory, so its "first" is already warm.',
  ].join('\n')
}

import * as Y from 'yjs'
import type { MemorySample } from './server-host.js'
import { KINDS, LABEL, type ServerKind, startHosted } from './servers.js'
import { ratio, table } from './stats.js'
import { connectWire, type WireClient } from './wire.js'

/**
 * Issue 3, idle sockets: N sockets (4 per room) open and synced, then idle. Memory of the child
 * process hosting the server, after a full GC (`--expose-gc`, `gc()` ×4) before any socket and
 * with all N open; the delta divided by N (so it includes each room's share: its Y.Doc, 1 per 4).
 */

interface IdleResult {
  kind: ServerKind
  before: MemorySample
  after: MemorySample
  sockets: number
  connectMs: number
}

async function idleOne(kind: ServerKind, sockets: number): Promise<IdleResult> {
  const server = await startHosted(kind)
  const clients: WireClient[] = []
  try {
    const roomCount = Math.ceil(sockets / 4)
    const rooms = Array.from({ length: roomCount }, (_, r) => ({
      id: `idle-${r}`,
      members: Array.from({ length: 4 }, (_, k) => `i${r}-u${k}`),
    }))
    await server.conversations(rooms)
    const before = await server.memory()
    const started = performance.now()
    for (let i = 0; i < sockets; i += 100) {
      const batch: WireClient[] = []
      for (let j = i; j < Math.min(sockets, i + 100); j++) {
        const room = rooms[Math.floor(j / 4)]!
        batch.push(connectWire(kind, server.url, room.id, room.members[j % 4]!, new Y.Doc({ guid: room.id })))
      }
      clients.push(...batch)
      await Promise.all(batch.map((c) => c.synced))
    }
    const connectMs = performance.now() - started
    await new Promise((resolve) => setTimeout(resolve, 500))
    const after = await server.memory()
    const open = clients.filter((c) => !c.closed).length
    if (open !== sockets) throw new Error(`${kind}: only ${open} of ${sockets} sockets stayed open`)
    return { kind, before, after, sockets, connectMs }
  } finally {
    await Promise.all(clients.map((c) => c.close()))
    await server.close()
  }
}

const kib = (bytes: number) => bytes / 1024

export async function runIdle(sockets: number): Promise<string> {
  const results: IdleResult[] = []
  for (const kind of KINDS) results.push(await idleOne(kind, sockets))
  const per = (r: IdleResult, field: keyof MemorySample) => kib(r.after[field] - r.before[field]) / r.sockets
  const rows: (string | number)[][] = results.map((r) => [
    LABEL[r.kind],
    per(r, 'rss'),
    per(r, 'heapUsed'),
    per(r, 'external'),
    r.after.rss / 1024 / 1024,
    r.connectMs,
  ])
  const [ticks, ...baselines] = results as [IdleResult, ...IdleResult[]]
  for (const base of baselines) {
    rows.push([
      `ratio Ticks / ${base.kind}`,
      ratio(per(ticks, 'rss'), per(base, 'rss')),
      ratio(per(ticks, 'heapUsed'), per(base, 'heapUsed')),
      ratio(per(ticks, 'external'), per(base, 'external')),
      ratio(ticks.after.rss, base.after.rss),
      ratio(ticks.connectMs, base.connectMs),
    ])
  }
  return [
    table(
      `Idle sockets: ${sockets.toLocaleString()} open sockets (4 per room, ${Math.ceil(sockets / 4)} rooms)`,
      [
        'server',
        'RSS KiB / socket',
        'heap KiB / socket',
        'external KiB / socket',
        'RSS total MiB',
        'connect all ms',
      ],
      rows,
    ),
    "\nMethod: each server in its own child process (`node --expose-gc`); `process.memoryUsage()` after gc() ×4 before the first socket and with every socket open and synced; (after − before) / sockets. Includes each room's in-memory doc (one per 4 sockets).",
  ].join('\n')
}

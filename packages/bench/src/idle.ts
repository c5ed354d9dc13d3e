import * as Y from 'yjs'
import type { MemorySample } from './server-host.js'
import { type HostedServer, KINDS, LABEL, type ServerKind, startHosted } from './servers.js'
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
  /** CPU time of the server process while connecting (user + system): what the load barely moves. */
  connectCpuMs: number
  /** All of them again, once closed: same tokens, same docs, rooms still loaded (a network blip). */
  reconnectMs: number
  reconnectCpuMs: number
}

/** Connect every socket in batches of 100, each batch synced before the next; wall and server CPU ms. */
async function connectAll(
  server: HostedServer,
  sockets: { room: string; user: string; doc: Y.Doc }[],
): Promise<{ clients: WireClient[]; ms: number; cpuMs: number }> {
  const clients: WireClient[] = []
  const cpuBefore = await server.cpu()
  const started = performance.now()
  for (let i = 0; i < sockets.length; i += 100) {
    const batch = sockets
      .slice(i, i + 100)
      .map(({ room, user, doc }) => connectWire(server.kind, server.url, room, user, doc))
    clients.push(...batch)
    await Promise.all(batch.map((c) => c.synced))
  }
  const ms = performance.now() - started
  const cpuAfter = await server.cpu()
  const cpuMs = (cpuAfter.user - cpuBefore.user + cpuAfter.system - cpuBefore.system) / 1000
  return { clients, ms, cpuMs }
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
    const plan = Array.from({ length: sockets }, (_, j) => {
      const room = rooms[Math.floor(j / 4)]!
      return { room: room.id, user: room.members[j % 4]!, doc: new Y.Doc({ guid: room.id }) }
    })
    const before = await server.memory()
    const first = await connectAll(server, plan)
    clients.push(...first.clients)
    await new Promise((resolve) => setTimeout(resolve, 500))
    const after = await server.memory()
    const open = clients.filter((c) => !c.closed).length
    if (open !== sockets) throw new Error(`${kind}: only ${open} of ${sockets} sockets stayed open`)
    await Promise.all(clients.splice(0).map((c) => c.close()))
    const again = await connectAll(server, plan)
    clients.push(...again.clients)
    return {
      kind,
      before,
      after,
      sockets,
      connectMs: first.ms,
      connectCpuMs: first.cpuMs,
      reconnectMs: again.ms,
      reconnectCpuMs: again.cpuMs,
    }
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
    r.connectCpuMs,
    r.reconnectMs,
    r.reconnectCpuMs,
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
      ratio(ticks.connectCpuMs, base.connectCpuMs),
      ratio(ticks.reconnectMs, base.reconnectMs),
      ratio(ticks.reconnectCpuMs, base.reconnectCpuMs),
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
        'server CPU ms, connecting',
        'reconnect all ms',
        'server CPU ms, reconnecting',
      ],
      rows,
    ),
    "\nMethod: each server in its own child process (`node --expose-gc`); `process.memoryUsage()` after gc() ×4 before the first socket and with every socket open and synced; (after − before) / sockets. Includes each room's in-memory doc (one per 4 sockets). Connect: batches of 100, each synced before the next; server CPU is the server process's user + system time over it (less moved by other load than wall time). Reconnect: every socket closed, then all again with the same tokens and docs, the rooms still loaded (a network blip).",
  ].join('\n')
}

import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'
import { writeHeapSnapshot } from 'node:v8'
import type { Role } from '@ticks/core'
import {
  createConversation,
  createServer,
  type HistoryRecord,
  PostgresStore,
  SqliteStore,
  type Store,
} from '@ticks/server'
import { WebSocketServer } from 'ws'
import * as Y from 'yjs'
import { JWT_SECRET } from './servers.js'

/**
 * A child process hosting one server (`ticks`, `yws` or `hocuspocus`) on 127.0.0.1:0, driven over
 * IPC, so the server's CPU and memory are its own: the bench process holds only the clients.
 * Started by `servers.ts` with `--expose-gc`; Ticks' options (`TicksHostOptions`) come as JSON in
 * the second argument.
 */

export type ServerKind = 'ticks' | 'yws' | 'hocuspocus'

/** Where Ticks stores: the embedded SQLite default, or a shared PostgreSQL as one of several nodes. */
export interface TicksHostOptions {
  /** A postgres:// URL; without it, SQLite in a fresh temp dir. */
  postgres?: string
  /** One of several nodes over that PostgreSQL (DESIGN section 10): its id, the relay, the lease. */
  node?: { id: string; redis: string; leaseMs: number; renewMs: number }
}

export type HostRequest =
  | { op: 'memory' }
  | { op: 'conversations'; rooms: { id: string; members: string[] }[] }
  | { op: 'seed'; id: string; file: string }
  /** Ticks only: a sealed conversation (the live document, and its history as JSON records). */
  | { op: 'seedSealed'; id: string; file: string; historyFile: string }
  | { op: 'loop' }
  | { op: 'cpu' }
  | { op: 'close' }

/** The server's event-loop delay since the previous `loop` request, in ms. */
export interface LoopSample {
  p50: number
  p99: number
  max: number
}

export interface MemorySample {
  rss: number
  heapUsed: number
  external: number
}

const kind = process.argv[2] as ServerKind
const ticksOptions = JSON.parse(process.argv[3] ?? '{}') as TicksHostOptions
const loop = monitorEventLoopDelay({ resolution: 5 })
loop.enable()
const send = (message: unknown) => process.send?.(message)
/** BENCH_HEAPSNAPSHOT=dir: a heap snapshot at every memory sample, after its GCs (development). */
const snapshotDir = process.env.BENCH_HEAPSNAPSHOT
let snapshots = 0

async function main() {
  let close: () => Promise<void>
  let port: number
  let seed: (id: string, update: Uint8Array) => Promise<void>
  let seedSealed: (id: string, update: Uint8Array, history: HistoryRecord[]) => Promise<void> = async () => {
    throw new Error(`${kind} keeps no sealed history`)
  }
  let conversations: (rooms: { id: string; members: string[] }[]) => Promise<void> = async () => {}

  if (kind === 'ticks') {
    // The embedded default, SQLite (WAL, synchronous=FULL) in a fresh temp data dir, unless the
    // options name a PostgreSQL: then nothing is on this machine's disk (the secret is given), and
    // no dir is made that a node the bench SIGKILLs would leave behind.
    const { postgres, node } = ticksOptions
    const dir = postgres ? undefined : mkdtempSync(join(tmpdir(), 'ticks-bench-'))
    const store: Store = dir
      ? new SqliteStore(join(dir, 'ticks.sqlite'))
      : await PostgresStore.open({ connectionString: postgres! })
    const app = await createServer({
      store,
      ...(dir && { data: dir }),
      jwtSecret: JWT_SECRET,
      logger: false,
      webRoot: false,
      // Long enough that no idle room is unloaded while a scenario runs.
      idleUnloadMs: 10 * 60_000,
      ...(node && {
        nodeId: node.id,
        redis: node.redis,
        cluster: { leaseMs: node.leaseMs, renewMs: node.renewMs },
      }),
    })
    await app.listen({ port: 0, host: '127.0.0.1' })
    port = (app.server.address() as { port: number }).port
    // As `POST /api/conversations` writes them: the document's meta and the summary an inbox lists.
    // Many at once: concurrent appends share the store's group commits.
    conversations = async (rooms) => {
      for (let start = 0; start < rooms.length; start += 100) {
        await Promise.all(
          rooms.slice(start, start + 100).map((room) => {
            const members: Record<string, Role> = Object.fromEntries(
              room.members.map((user, i) => [user, i === 0 ? 'owner' : 'member'] as const),
            )
            return createConversation(store, { id: room.id, title: room.id, members })
          }),
        )
      }
    }
    // The seed already holds meta, messages and the order log (stamped): store it as one entry.
    seed = async (id, update) => {
      await store.append(id, [update])
    }
    // As the sequencer leaves it: one append holding the sealed document and the history.
    seedSealed = async (id, update, history) => {
      for (let start = 0; start < history.length || start === 0; start += 50_000) {
        const sealed = history.slice(start, start + 50_000)
        await store.append(id, start === 0 ? [update] : [], undefined, { sealed })
      }
    }
    close = async () => {
      await app.close()
      if (dir) rmSync(dir, { recursive: true, force: true })
    }
  } else if (kind === 'yws') {
    // @y/websocket-server 0.1.1 as its README runs it: in-memory docs, no persistence (YPERSISTENCE unset).
    const { setupWSConnection, getYDoc } = await import('@y/websocket-server/utils')
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' })
    wss.on('connection', (socket, request: IncomingMessage) => {
      setupWSConnection(socket, request, { docName: (request.url ?? '/').slice(1).split('?')[0]! })
    })
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
    port = (wss.address() as { port: number }).port
    seed = async (id, update) => {
      Y.applyUpdate(getYDoc(id), update)
    }
    close = () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate()
        wss.close(() => resolve())
      })
  } else {
    // @hocuspocus/server 3 with no extensions (no persistence): a document lives while it has sockets.
    const seeds = new Map<string, Uint8Array>()
    const HocuspocusServer = await loadHocuspocus()
    const server = new HocuspocusServer({
      port: 0,
      address: '127.0.0.1',
      quiet: true,
      stopOnSignals: false,
      async onLoadDocument({ documentName, document }: { documentName: string; document: Y.Doc }) {
        const update = seeds.get(documentName)
        if (update) Y.applyUpdate(document, update)
      },
    })
    await server.listen()
    port = server.address.port
    seed = async (id, update) => {
      seeds.set(id, update)
    }
    close = () => server.destroy()
  }

  process.on('message', async (request: HostRequest & { rid: number }) => {
    const reply = (value: unknown) => send({ rid: request.rid, value })
    switch (request.op) {
      case 'memory': {
        const gc = (globalThis as { gc?: () => void }).gc
        for (let i = 0; i < 4; i++) {
          gc?.()
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
        const usage = process.memoryUsage()
        if (snapshotDir)
          writeHeapSnapshot(join(snapshotDir, `${kind}-${process.pid}-${snapshots++}.heapsnapshot`))
        return reply({
          rss: usage.rss,
          heapUsed: usage.heapUsed,
          external: usage.external,
        } satisfies MemorySample)
      }
      case 'loop': {
        const sample: LoopSample = {
          p50: loop.percentile(50) / 1e6,
          p99: loop.percentile(99) / 1e6,
          max: loop.max / 1e6,
        }
        loop.reset()
        return reply(sample)
      }
      case 'cpu':
        return reply(process.cpuUsage())
      case 'conversations':
        await conversations(request.rooms)
        return reply(true)
      case 'seed':
        await seed(request.id, new Uint8Array(readFileSync(request.file)))
        return reply(true)
      case 'seedSealed':
        await seedSealed(
          request.id,
          new Uint8Array(readFileSync(request.file)),
          JSON.parse(readFileSync(request.historyFile, 'utf8')) as HistoryRecord[],
        )
        return reply(true)
      case 'close':
        await close()
        reply(true)
        setTimeout(() => process.exit(0), 50)
        return
    }
  })
  process.on('disconnect', () => process.exit(0))
  send({ ready: true, port })
}

interface Hocuspocus {
  listen(): Promise<unknown>
  address: { port: number }
  destroy(): Promise<void>
}

/**
 * The published build of @hocuspocus/server (its `source` export condition, which this repo's
 * `--conditions=source` would otherwise pick, is its TypeScript source).
 */
async function loadHocuspocus(): Promise<new (configuration: object) => Hocuspocus> {
  const cjs = createRequire(import.meta.url).resolve('@hocuspocus/server')
  const esm = cjs.replace(/hocuspocus-server\.cjs$/, 'hocuspocus-server.esm.js')
  const module = (await import(pathToFileURL(esm).href)) as {
    Server: new (configuration: object) => Hocuspocus
  }
  return module.Server
}

void main().catch((error) => {
  console.error(error)
  process.exit(1)
})

import { createClient, type LiveConversation, type TicksClient } from '@ticks/client'
import { type MessageRecord, messageKey, randomId, userRoot } from '@ticks/core'
import { WebSocket } from 'ws'
import * as Y from 'yjs'
import {
  cpuPercent,
  type HostedServer,
  KINDS,
  LABEL,
  type ServerKind,
  startHosted,
  tokenFor,
} from './servers.js'
import { median, percentile, ratio, table } from './stats.js'
import { connectWire, type WireClient } from './wire.js'

/**
 * Issue 4, reconnect storm: R rooms × 4 clients, all synced, go offline; each writes M messages;
 * all reconnect at the same moment. Per client, the time from that moment until it holds every
 * message of its room — and for Ticks (through @ticks/client) until every message's status is
 * settled: `delivered` (the clients mark it automatically, batched) and `read` (each client calls
 * `markRead()` 30 ms after a change, as an app with the conversation on screen does).
 * Baselines: the bench's lean Y.Doc client reconnecting with its offline doc (no statuses exist).
 */

export interface StormOptions {
  /** What the table is called: the 200-client storm, or one room coming back at once. */
  title: string
  rooms: number
  perRoom: number
  messages: number
  timeoutMs: number
  /** Each round runs every variant once (rotated order); the table shows medians over rounds. */
  rounds: number
}

/** `ticks-wire`: the Ticks server with the bench's lean client, like the baselines (messages only). */
type StormVariant = ServerKind | 'ticks-wire'

interface StormResult {
  variant: StormVariant
  all: number[]
  delivered: number[]
  read: number[]
  /** Ticks SDK, per client: from holding every message to every message `read`. */
  statusLag: number[]
  clients: number
  /** CPU use from reconnection until the last client finished, % of one core. */
  cpu: { client: number; server: number }
}

const VARIANT_LABEL: Record<StormVariant, string> = {
  ...LABEL,
  ticks: 'Ticks, @ticks/client SDK',
  'ticks-wire': 'Ticks, lean client (as baselines)',
}

const DELIVERED = new Set(['delivered', 'read'])

async function stormTicks(options: StormOptions): Promise<StormResult> {
  const server = await startHosted('ticks')
  const clients: TicksClient[] = []
  try {
    const rooms = Array.from({ length: options.rooms }, (_, r) => ({
      id: `storm-${r}`,
      members: Array.from({ length: options.perRoom }, (_, k) => `s${r}-u${k}`),
    }))
    await server.conversations(rooms)
    const conversations: LiveConversation[] = []
    for (const room of rooms) {
      for (const user of room.members) {
        const client = createClient({
          url: server.url,
          token: tokenFor(user),
          userId: user,
          replicaId: `${user}-bench`,
          persistence: 'none',
          WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
        })
        clients.push(client)
        conversations.push(client.open(room.id))
      }
    }
    for (let i = 0; i < conversations.length; i += 50) {
      const synced = await Promise.all(conversations.slice(i, i + 50).map((c) => c.whenSynced()))
      if (synced.includes(false)) throw new Error('ticks: a client failed to sync before the storm')
    }
    for (const conversation of conversations) conversation.disconnect()
    for (const conversation of conversations) {
      for (let i = 0; i < options.messages; i++)
        conversation.send(`offline message ${i}, the quick brown fox`)
    }
    const expected = options.perRoom * options.messages
    const all: number[] = []
    const delivered: number[] = []
    const read: number[] = []
    const statusLag: number[] = []
    let finished = 0
    let t0 = 0
    const watchers = conversations.map((conversation) => {
      const state = {
        allAt: 0,
        all: false,
        delivered: false,
        read: false,
        readTimer: undefined as NodeJS.Timeout | undefined,
      }
      let queued = false
      const check = () => {
        queued = false
        const now = performance.now() - t0
        const messages = conversation.messages()
        if (messages.length < expected) return
        if (!state.all) {
          state.all = true
          state.allAt = now
          all.push(now)
        }
        if (!state.delivered && messages.every((m) => DELIVERED.has(m.status))) {
          state.delivered = true
          delivered.push(now)
        }
        if (!state.read && messages.every((m) => m.status === 'read')) {
          state.read = true
          read.push(now)
          statusLag.push(now - state.allAt)
          finished++
        }
      }
      const unsubscribe = conversation.onChange(() => {
        if (!queued) {
          queued = true
          queueMicrotask(check)
        }
        if (!state.readTimer && !state.read) {
          state.readTimer = setTimeout(() => {
            state.readTimer = undefined
            conversation.markRead()
          }, 30)
        }
      })
      return () => {
        unsubscribe()
        clearTimeout(state.readTimer)
      }
    })
    const serverCpu = await server.cpu()
    const clientCpu = process.cpuUsage()
    t0 = performance.now()
    for (const conversation of conversations) conversation.reconnect()
    const deadline = Date.now() + options.timeoutMs
    while (finished < conversations.length && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    const cpu = await cpuSince(server, serverCpu, clientCpu, Math.max(0, ...read) || performance.now() - t0)
    for (const stop of watchers) stop()
    return { variant: 'ticks', all, delivered, read, statusLag, clients: conversations.length, cpu }
  } finally {
    await Promise.all(clients.map((c) => c.close()))
    await server.close()
  }
}

async function stormWire(kind: ServerKind, options: StormOptions): Promise<StormResult> {
  const server = await startHosted(kind)
  const sockets: WireClient[] = []
  try {
    const rooms = Array.from({ length: options.rooms }, (_, r) => ({
      id: `storm-${r}`,
      members: Array.from({ length: options.perRoom }, (_, k) => `s${r}-u${k}`),
    }))
    await server.conversations(rooms)
    const peers: { room: string; user: string; members: string[]; doc: Y.Doc }[] = []
    for (const room of rooms) {
      for (const user of room.members) {
        peers.push({ room: room.id, user, members: room.members, doc: new Y.Doc({ guid: room.id }) })
      }
    }
    let first = peers.map((p) => connectWire(kind, server.url, p.room, p.user, p.doc))
    for (let i = 0; i < first.length; i += 50) await Promise.all(first.slice(i, i + 50).map((c) => c.synced))
    await Promise.all(first.map((c) => c.close()))
    first = []
    for (const peer of peers) {
      const map = peer.doc.getMap(userRoot(peer.user))
      for (let i = 0; i < options.messages; i++) {
        const id = randomId()
        const record: MessageRecord = {
          id,
          text: `offline message ${i}, the quick brown fox`,
          createdAt: Date.now(),
          to: peer.members.filter((u) => u !== peer.user),
        }
        map.set(messageKey(id), record)
      }
    }
    const expected = options.perRoom * options.messages
    const all: number[] = []
    let t0 = 0
    for (const peer of peers) {
      const maps = peer.members.map((u) => peer.doc.getMap(userRoot(u)))
      let done = false
      peer.doc.on('afterTransaction', () => {
        if (done) return
        let count = 0
        for (const map of maps) count += map.size
        if (count >= expected) {
          done = true
          all.push(performance.now() - t0)
        }
      })
    }
    const serverCpu = await server.cpu()
    const clientCpu = process.cpuUsage()
    t0 = performance.now()
    for (const peer of peers) sockets.push(connectWire(kind, server.url, peer.room, peer.user, peer.doc))
    const deadline = Date.now() + options.timeoutMs
    while (all.length < peers.length && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    const cpu = await cpuSince(server, serverCpu, clientCpu, Math.max(0, ...all) || performance.now() - t0)
    return {
      variant: kind === 'ticks' ? 'ticks-wire' : kind,
      all,
      delivered: [],
      read: [],
      statusLag: [],
      clients: peers.length,
      cpu,
    }
  } finally {
    await Promise.all(sockets.map((c) => c.close()))
    await server.close()
  }
}

/**
 * CPU used since the readings, as % of one core over `ms` (the time until the last client was
 * done; the polling loop adds at most 10 ms of idle after it).
 */
async function cpuSince(
  server: HostedServer,
  serverBefore: NodeJS.CpuUsage,
  clientBefore: NodeJS.CpuUsage,
  ms: number,
): Promise<{ client: number; server: number }> {
  const client = cpuPercent(clientBefore, process.cpuUsage(), ms / 1000)
  return { client, server: cpuPercent(serverBefore, await server.cpu(), ms / 1000) }
}

export async function runStorm(options: StormOptions): Promise<string> {
  const variants: StormVariant[] = KINDS.flatMap((kind): StormVariant[] =>
    kind === 'ticks' ? ['ticks', 'ticks-wire'] : [kind],
  )
  const byVariant = new Map<StormVariant, StormResult[]>(variants.map((v) => [v, []]))
  for (let round = 0; round < options.rounds; round++) {
    const shift = round % variants.length
    for (const variant of [...variants.slice(shift), ...variants.slice(0, shift)]) {
      const result =
        variant === 'ticks'
          ? await stormTicks(options)
          : await stormWire(variant === 'ticks-wire' ? 'ticks' : variant, options)
      byVariant.get(variant)!.push(result)
    }
  }
  /** Median over rounds of one percentile, or how many clients finished when some did not. */
  const value = (variant: StormVariant, field: 'all' | 'delivered' | 'read', p: number) => {
    const results = byVariant.get(variant)!
    if (results.every((r) => r[field].length === 0)) return Number.NaN
    return median(results.map((r) => (r[field].length < r.clients ? Number.NaN : percentile(r[field], p))))
  }
  const cell = (variant: StormVariant, field: 'all' | 'delivered' | 'read', p: number) => {
    const results = byVariant.get(variant)!
    if (results.every((r) => r[field].length === 0)) return '—'
    const short = results.find((r) => r[field].length < r.clients)
    if (short) return `${short[field].length}/${short.clients} done`
    return value(variant, field, p)
  }
  const rows: (string | number)[][] = variants.map((v) => [
    VARIANT_LABEL[v],
    cell(v, 'all', 50),
    cell(v, 'all', 99),
    cell(v, 'all', 100),
    cell(v, 'delivered', 50),
    cell(v, 'delivered', 99),
    cell(v, 'delivered', 100),
    cell(v, 'read', 50),
    cell(v, 'read', 99),
    cell(v, 'read', 100),
    median(byVariant.get(v)!.map((r) => r.cpu.server)),
    median(byVariant.get(v)!.map((r) => r.cpu.client)),
  ])
  for (const ours of variants.filter((v) => v === 'ticks' || v === 'ticks-wire')) {
    for (const base of variants.filter((v) => v !== 'ticks' && v !== 'ticks-wire')) {
      rows.push([
        `ratio ${ours === 'ticks' ? 'Ticks SDK' : 'Ticks lean'} / ${base} (messages)`,
        ratio(value(ours, 'all', 50), value(base, 'all', 50)),
        ratio(value(ours, 'all', 99), value(base, 'all', 99)),
        ratio(value(ours, 'all', 100), value(base, 'all', 100)),
        '',
        '',
        '',
        '',
        '',
        '',
        '',
        '',
      ])
    }
  }
  const perRound = variants.map((v) => [
    VARIANT_LABEL[v],
    byVariant
      .get(v)!
      .map((r) => (r.all.length < r.clients ? 'n/a' : percentile(r.all, 99).toFixed(0)))
      .join(' / '),
    v === 'ticks'
      ? byVariant
          .get(v)!
          .map((r) => (r.read.length < r.clients ? 'n/a' : percentile(r.read, 99).toFixed(0)))
          .join(' / ')
      : '—',
    v === 'ticks'
      ? byVariant
          .get(v)!
          .map((r) => `${percentile(r.statusLag, 50).toFixed(0)}, ${percentile(r.statusLag, 99).toFixed(0)}`)
          .join(' / ')
      : '—',
  ])
  return [
    table(
      `${options.title}: ${options.rooms} room${options.rooms === 1 ? '' : 's'} × ${options.perRoom} clients, ${options.messages} offline messages each (${(options.rooms * options.perRoom * options.messages).toLocaleString()} in all), all reconnect at once — ms per client after reconnect(), median of ${options.rounds} round(s)`,
      [
        'server',
        'all msgs p50',
        'all msgs p99',
        'all msgs max',
        'all ≥delivered p50',
        'p99',
        'max',
        'all read p50',
        'p99',
        'max',
        'server CPU %',
        'bench clients CPU %',
      ],
      rows,
    ),
    table(
      `${options.title}, every round (spread)`,
      ['server', 'all msgs p99', 'all read p99', 'read after all msgs p50, p99'],
      perRound,
    ),
    '',
    "A client is done with messages when it holds every message of its room (its own and the 3 others' offline messages); with statuses when every message's aggregate status over all its recipients is `delivered` (resp. `read`) as that client sees it. Ticks SDK: @ticks/client (y-websocket provider, persistence none, auto-delivered batched 30 ms, the bench calls `markRead()` 30 ms after a change as an app with the conversation on screen would). Lean client: the bench's Y.Doc-over-ws client reconnecting with its offline doc (no statuses). Ticks shows a sync reply only once the room holds nothing undurable (in a busy room, after 250 ms it pauses intake for one commit to get there). CPU: % of one core from reconnection until the last client finished (2 cores shared by the server and the bench process holding all " +
      options.rooms * options.perRoom +
      " clients). 'read after all msgs': per Ticks client, from holding every message to seeing every message `read`. Target: statuses within 500 ms of reconnection; aim 50 ms p99 per client.",
  ].join('\n')
}

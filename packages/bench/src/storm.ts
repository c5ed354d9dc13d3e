import { createClient, type LiveConversation, type TicksClient } from '@ticks/client'
import { type MessageRecord, messageKey, randomId, userRoot } from '@ticks/core'
import { WebSocket } from 'ws'
import * as Y from 'yjs'
import { KINDS, LABEL, type ServerKind, startHosted, tokenFor } from './servers.js'
import { percentile, ratio, table } from './stats.js'
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
  rooms: number
  perRoom: number
  messages: number
  timeoutMs: number
}

interface StormResult {
  kind: ServerKind
  all: number[]
  delivered: number[]
  read: number[]
  clients: number
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
    let finished = 0
    let t0 = 0
    const watchers = conversations.map((conversation) => {
      const state = {
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
          all.push(now)
        }
        if (!state.delivered && messages.every((m) => DELIVERED.has(m.status))) {
          state.delivered = true
          delivered.push(now)
        }
        if (!state.read && messages.every((m) => m.status === 'read')) {
          state.read = true
          read.push(now)
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
    t0 = performance.now()
    for (const conversation of conversations) conversation.reconnect()
    const deadline = Date.now() + options.timeoutMs
    while (finished < conversations.length && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    for (const stop of watchers) stop()
    return { kind: 'ticks', all, delivered, read, clients: conversations.length }
  } finally {
    await Promise.all(clients.map((c) => c.close()))
    await server.close()
  }
}

async function stormBaseline(kind: ServerKind, options: StormOptions): Promise<StormResult> {
  const server = await startHosted(kind)
  const sockets: WireClient[] = []
  try {
    const peers: { room: string; user: string; members: string[]; doc: Y.Doc }[] = []
    for (let r = 0; r < options.rooms; r++) {
      const members = Array.from({ length: options.perRoom }, (_, k) => `s${r}-u${k}`)
      for (const user of members) peers.push({ room: `storm-${r}`, user, members, doc: new Y.Doc() })
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
    t0 = performance.now()
    for (const peer of peers) sockets.push(connectWire(kind, server.url, peer.room, peer.user, peer.doc))
    const deadline = Date.now() + options.timeoutMs
    while (all.length < peers.length && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    return { kind, all, delivered: [], read: [], clients: peers.length }
  } finally {
    await Promise.all(sockets.map((c) => c.close()))
    await server.close()
  }
}

export async function runStorm(options: StormOptions): Promise<string> {
  const results: StormResult[] = []
  for (const kind of KINDS) {
    results.push(kind === 'ticks' ? await stormTicks(options) : await stormBaseline(kind, options))
  }
  const cell = (samples: number[], clients: number, p: number) =>
    samples.length === 0
      ? '—'
      : samples.length < clients
        ? `${samples.length}/${clients} done`
        : percentile(samples, p)
  const rows: (string | number)[][] = []
  for (const r of results) {
    rows.push([
      LABEL[r.kind],
      cell(r.all, r.clients, 50),
      cell(r.all, r.clients, 99),
      cell(r.all, r.clients, 100),
      cell(r.delivered, r.clients, 50),
      cell(r.delivered, r.clients, 99),
      cell(r.delivered, r.clients, 100),
      cell(r.read, r.clients, 50),
      cell(r.read, r.clients, 99),
      cell(r.read, r.clients, 100),
    ])
  }
  const [ticks, ...baselines] = results as [StormResult, ...StormResult[]]
  for (const base of baselines) {
    rows.push([
      `ratio Ticks / ${base.kind} (messages)`,
      ratio(percentile(ticks.all, 50), percentile(base.all, 50)),
      ratio(percentile(ticks.all, 99), percentile(base.all, 99)),
      ratio(percentile(ticks.all, 100), percentile(base.all, 100)),
      '',
      '',
      '',
      '',
      '',
      '',
    ])
  }
  return [
    table(
      `Reconnect storm: ${options.rooms} rooms × ${options.perRoom} clients, ${options.messages} offline messages each (${options.rooms * options.perRoom * options.messages} in all), all reconnect at once — ms per client after reconnect()`,
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
      ],
      rows,
    ),
    '\nTicks clients are @ticks/client (y-websocket provider, persistence none, auto-delivered batched 30 ms); a message counts as `delivered`/`read` when its aggregate status over all its recipients is. Story target: statuses within 500 ms of reconnection; aim 50 ms p99 per client.',
  ].join('\n')
}

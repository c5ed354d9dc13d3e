import { performance } from 'node:perf_hooks'
import { createClient, type InboxEntry, type TicksClient } from '@ticks/client'
import { WebSocket } from 'ws'
import * as Y from 'yjs'
import { connectHocuspocusMany, type ManyDocsClient } from './hocus-many.js'
import type { MemorySample } from './server-host.js'
import { type HostedServer, KINDS, LABEL, type ServerKind, startHosted, tokenFor, until } from './servers.js'
import { percentile, ratio, table } from './stats.js'
import { connectWire, type WireClient } from './wire.js'

/**
 * Issue 14, many conversations: U users, each a member of C conversations (of 4 members), each
 * user arriving at once. Ticks: the real `@ticks/client`, one shared socket per user, its inbox
 * (`client.inbox()`, background delivery on), as the web app runs it: the figure is the time from
 * creating the client to its complete conversation list, then messages posted into conversations
 * the recipients have not opened. The baselines have no inbox and no multiplexing of their own
 * kind: to draw the same list a client must sync every conversation. @y/websocket-server: one
 * socket per conversation (opened one after another, as RFC 6455 section 4.1 makes a browser
 * do), Hocuspocus: every document over one socket (its own multiplexing).
 */

export interface ManyConversationsOptions {
  users: number
  perUser: number
  /** Messages posted, one after another, each into a conversation its recipients have not opened. */
  deliveries: number
  /** The fd limit of one process (20,000 here) caps the sockets a per-conversation client may hold. */
  maxSockets: number
}

interface Plan {
  users: string[]
  conversations: { id: string; members: string[] }[]
}

const MEMBERS = 4
const DELIVERY_TIMEOUT_MS = 15_000
const DELIVERED = new Set(['delivered', 'read'])

/**
 * Conversations of 4 such that every user is in exactly `perUser`: blocks of `users`
 * conversations, conversation i of a block holding users i, i+s, i+2s, i+3s (mod users) with the
 * block's stride s, so each block puts every user in 4 and varies who meets whom.
 */
export function planConversations(users: number, perUser: number): Plan {
  if (users < MEMBERS || perUser % MEMBERS !== 0)
    throw new Error(`need ≥ ${MEMBERS} users and a multiple of ${MEMBERS} conversations per user`)
  const maxStride = Math.floor((users - 1) / (MEMBERS - 1))
  const ids = Array.from({ length: users }, (_, u) => `m${u}`)
  const conversations: Plan['conversations'] = []
  for (let block = 0; block < perUser / MEMBERS; block++) {
    const stride = 1 + (block % maxStride)
    for (let i = 0; i < users; i++) {
      const members = Array.from({ length: MEMBERS }, (_, k) => ids[(i + k * stride) % users]!)
      conversations.push({ id: `many-${block}-${i}`, members })
    }
  }
  return { users: ids, conversations }
}

interface ListResult {
  kind: ServerKind
  users: number
  socketsPerUser: number
  listMs: number[]
  before: MemorySample
  after: MemorySample
  /** Ticks: rooms in memory once every list is complete (the inbox should load none). */
  roomsLoaded?: number
}

interface DeliveryResult {
  /** Ticks: send → the writer sees it stamped. */
  sent: number[]
  /** Ticks: send → the recipient's inbox lists it (its last message). */
  inbox: number[]
  /** Send → integrated by the recipient (Ticks: the writer sees that recipient's receipt `delivered`). */
  recipient: number[]
  /** Send → every recipient's (Ticks: the writer sees the aggregate status `delivered`). */
  all: number[]
  missing: number
}

const rss = (r: ListResult) => (r.after.rss - r.before.rss) / 1024 / r.users
const heap = (r: ListResult) => (r.after.heapUsed - r.before.heapUsed) / 1024 / r.users

async function ticksRun(plan: Plan, options: ManyConversationsOptions) {
  const server = await startHosted('ticks')
  const clients = new Map<string, TicksClient>()
  try {
    await server.conversations(plan.conversations)
    const before = await server.memory()
    const listMs = await Promise.all(
      plan.users.map(async (user) => {
        const started = performance.now()
        const client = createClient({
          url: server.url,
          token: tokenFor(user),
          userId: user,
          replicaId: `${user}-bench`,
          persistence: 'none',
          WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
        })
        clients.set(user, client)
        const inbox = client.inbox()
        await inbox.whenLoaded()
        const listed = inbox.entries().length
        if (listed !== options.perUser) throw new Error(`ticks: ${user}'s inbox lists ${listed}`)
        return performance.now() - started
      }),
    )
    const roomsLoaded = await roomsInMemory(server)
    const after = await server.memory()
    const list: ListResult = {
      kind: 'ticks',
      users: plan.users.length,
      socketsPerUser: 1,
      listMs,
      before,
      after,
      roomsLoaded,
    }
    const deliveries = await ticksDeliveries(plan, clients, options.deliveries)
    return { list, deliveries }
  } finally {
    await Promise.all([...clients.values()].map((client) => client.close()))
    await server.close()
  }
}

async function roomsInMemory(server: HostedServer): Promise<number> {
  const match = /^ticks_rooms (\d+)/m.exec(await server.metrics())
  return match ? Number(match[1]) : Number.NaN
}

/**
 * One message at a time, each into another conversation, from one of its members whose client
 * opens it to write; the 3 others have it only in their inbox, and their clients' background
 * delivery is what makes it `delivered`.
 */
async function ticksDeliveries(
  plan: Plan,
  clients: Map<string, TicksClient>,
  count: number,
): Promise<DeliveryResult> {
  const result: DeliveryResult = { sent: [], inbox: [], recipient: [], all: [], missing: 0 }
  for (let d = 0; d < count; d++) {
    const { id, members } = pick(plan, d)
    const sender = members[d % MEMBERS]!
    const recipients = members.filter((member) => member !== sender)
    const conversation = clients.get(sender)!.open(id)
    try {
      if (!(await conversation.whenSynced())) throw new Error(`ticks: ${sender} could not open ${id}`)
      const started = performance.now()
      const elapsed = () => performance.now() - started
      const message = conversation.send(`delivery ${d}: the quick brown fox`)
      const seen = new Set<string>()
      const unwatch = recipients.map((recipient) => {
        const inbox = clients.get(recipient)!.inbox()
        const listed = () => (inbox.get(id) as InboxEntry | undefined)?.lastMessage?.id === message.id
        const check = () => {
          if (seen.has(recipient) || !listed()) return
          seen.add(recipient)
          result.inbox.push(elapsed())
        }
        check()
        return inbox.onChange(check)
      })
      let sentAt = 0
      let allAt = 0
      const delivered = new Set<string>()
      const check = () => {
        if (!sentAt && conversation.status(message.id) !== 'pending') sentAt = elapsed()
        const receipts = conversation.receipts(message.id)
        for (const recipient of recipients) {
          if (delivered.has(recipient) || !DELIVERED.has(receipts[recipient] ?? '')) continue
          delivered.add(recipient)
          result.recipient.push(elapsed())
        }
        if (!allAt && DELIVERED.has(conversation.status(message.id))) allAt = elapsed()
      }
      const unsubscribe = conversation.onChange(check)
      const done = await until(() => {
        check()
        return allAt > 0 && seen.size === recipients.length
      }, DELIVERY_TIMEOUT_MS)
      unsubscribe()
      for (const stop of unwatch) stop()
      if (sentAt) result.sent.push(sentAt)
      if (allAt) result.all.push(allAt)
      if (!done) result.missing += recipients.length - delivered.size
    } finally {
      await conversation.close()
    }
  }
  return result
}

/** Delivery d's conversation: spread over the plan, a different one each time. */
const pick = (plan: Plan, d: number) => plan.conversations[(d * 7919) % plan.conversations.length]!

/** The baselines: every user syncs all of its conversations (they have no list of their own). */
async function baselineRun(kind: 'yws' | 'hocuspocus', plan: Plan, deliveries: number) {
  const server = await startHosted(kind)
  const docs = new Map<string, Y.Doc>() // `${user}|${conversation}`
  const sockets: (WireClient | ManyDocsClient)[] = []
  const ofUser = new Map<string, string[]>(plan.users.map((user) => [user, []]))
  for (const { id, members } of plan.conversations) for (const m of members) ofUser.get(m)!.push(id)
  try {
    const before = await server.memory()
    const listMs = await Promise.all(
      plan.users.map(async (user) => {
        const started = performance.now()
        const ids = ofUser.get(user)!
        if (kind === 'hocuspocus') {
          const client = connectHocuspocusMany(server.url, ids)
          sockets.push(client)
          for (const [id, doc] of client.docs) docs.set(`${user}|${id}`, doc)
          await client.synced
        } else {
          const synced: Promise<void>[] = []
          for (const id of ids) {
            const doc = new Y.Doc({ guid: id })
            const client = connectWire(kind, server.url, id, user, doc)
            sockets.push(client)
            docs.set(`${user}|${id}`, doc)
            synced.push(client.synced)
            // A browser opens one socket to a host at a time (RFC 6455 section 4.1).
            await client.opened
          }
          await Promise.all(synced)
        }
        return performance.now() - started
      }),
    )
    const after = await server.memory()
    const list: ListResult = {
      kind,
      users: plan.users.length,
      socketsPerUser: kind === 'hocuspocus' ? 1 : ofUser.get(plan.users[0]!)!.length,
      listMs,
      before,
      after,
    }
    // Every conversation is open on every member's client here: a write reaches the others' docs.
    const result: DeliveryResult = { sent: [], inbox: [], recipient: [], all: [], missing: 0 }
    for (let d = 0; d < deliveries; d++) {
      const { id, members } = pick(plan, d)
      const sender = members[d % MEMBERS]!
      const recipients = members.filter((member) => member !== sender).map((m) => docs.get(`${m}|${id}`)!)
      const key = `d${d}`
      const started = performance.now()
      docs.get(`${sender}|${id}`)!.getMap('bench').set(key, 'the quick brown fox')
      const arrived = new Set<Y.Doc>()
      const done = await until(
        () => {
          for (const doc of recipients) {
            if (arrived.has(doc) || !doc.getMap('bench').has(key)) continue
            arrived.add(doc)
            result.recipient.push(performance.now() - started)
          }
          return arrived.size === recipients.length
        },
        DELIVERY_TIMEOUT_MS,
        1,
      )
      if (done) result.all.push(performance.now() - started)
      else result.missing += recipients.length - arrived.size
    }
    return { list, deliveries: result }
  } finally {
    await Promise.all(sockets.map((socket) => socket.close()))
    await server.close()
  }
}

export async function runManyConversations(options: ManyConversationsOptions): Promise<string> {
  const plan = planConversations(options.users, options.perUser)
  // One socket per conversation: as many users as the fd limit allows (both processes hold them).
  const perConversationUsers = Math.min(
    options.users,
    MEMBERS * Math.floor(options.maxSockets / options.perUser / MEMBERS),
  )
  const smallPlan =
    perConversationUsers === options.users ? plan : planConversations(perConversationUsers, options.perUser)
  const runs: { list: ListResult; deliveries: DeliveryResult }[] = []
  for (const kind of KINDS) {
    if (kind === 'ticks') runs.push(await ticksRun(plan, options))
    else runs.push(await baselineRun(kind, kind === 'yws' ? smallPlan : plan, options.deliveries))
  }
  const p = (samples: number[], q: number) => percentile(samples, q)
  const listRows: (string | number)[][] = runs.map(({ list }) => [
    LABEL[list.kind],
    String(list.users),
    String(list.socketsPerUser),
    list.kind === 'ticks' ? 'inbox (full list)' : 'every conversation synced',
    p(list.listMs, 50),
    p(list.listMs, 99),
    Math.max(...list.listMs),
    rss(list),
    heap(list),
    list.roomsLoaded === undefined ? '—' : String(list.roomsLoaded),
  ])
  const ticks = runs.find((run) => run.list.kind === 'ticks')
  if (ticks) {
    for (const { list } of runs.filter((run) => run.list.kind !== 'ticks')) {
      listRows.push([
        `ratio Ticks / ${list.kind}`,
        '',
        '',
        '',
        ratio(p(ticks.list.listMs, 50), p(list.listMs, 50)),
        ratio(p(ticks.list.listMs, 99), p(list.listMs, 99)),
        '',
        ratio(rss(ticks.list), rss(list)),
        ratio(heap(ticks.list), heap(list)),
        '',
      ])
    }
  }
  const deliveryRows = runs.map(({ list, deliveries: d }) => {
    const isTicks = list.kind === 'ticks'
    const cell = (samples: number[], q: number) => (isTicks || samples.length > 0 ? p(samples, q) : '—')
    return [
      LABEL[list.kind],
      isTicks ? cell(d.sent, 50) : '—',
      isTicks ? cell(d.sent, 99) : '—',
      isTicks ? cell(d.inbox, 50) : '—',
      isTicks ? cell(d.inbox, 99) : '—',
      cell(d.recipient, 50),
      cell(d.recipient, 99),
      cell(d.all, 50),
      cell(d.all, 99),
      String(d.missing),
    ]
  })
  const conversationsOf = (users: number) => (users * options.perUser) / MEMBERS
  return [
    table(
      `Many conversations: ${options.users} users × ${options.perUser} conversations each (${conversationsOf(options.users).toLocaleString()} conversations of ${MEMBERS}), every user arriving at once; ms from connect to a complete list, per user`,
      [
        'server',
        'users',
        'sockets / user',
        'complete when',
        'list p50 ms',
        'p99 ms',
        'max ms',
        'server RSS KiB / user',
        'heap KiB / user',
        'rooms loaded',
      ],
      listRows,
    ),
    table(
      `Many conversations: ${options.deliveries} messages, one at a time, each into another conversation (ms from the send; per recipient, 3 per message)`,
      [
        'server',
        'to `sent` p50',
        'p99',
        "recipient's inbox lists it p50",
        'p99',
        'recipient integrated p50',
        'p99',
        'every recipient p50',
        'p99',
        'missing',
      ],
      deliveryRows,
    ),
    [
      '',
      'Ticks: the real @ticks/client (persistence none), one shared socket per user, `client.inbox()` with background delivery;',
      'the conversation is not open on the recipients: their clients sync it in the background and write the receipt.',
      '"recipient integrated" for Ticks is when the writer sees that recipient\'s receipt `delivered` (stored, stamped, relayed back);',
      "for the baselines, when the recipient's open doc holds the write (every conversation is open there, with its socket).",
      `The baselines have no inbox: their list is every conversation synced. @y/websocket-server: one socket per conversation,`,
      `opened one at a time per user (RFC 6455 §4.1), with ${perConversationUsers} users (${conversationsOf(perConversationUsers).toLocaleString()} conversations): ${(perConversationUsers * options.perUser).toLocaleString()} sockets fit this machine's fd limit of 20,000 per process;`,
      'per-user figures are comparable, the load is lighter. Memory: the server process after gc() ×4, (all lists complete − before) / users.',
    ].join('\n'),
  ].join('\n')
}

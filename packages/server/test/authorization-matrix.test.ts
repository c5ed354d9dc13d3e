import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { type MuxClient, muxClient } from './helpers/mux-client.js'
import {
  JWT_SECRET,
  plainClientCopy,
  startTestServer,
  stockClient,
  type TestServer,
  tokenFor,
  until,
} from './helpers/server.js'

/**
 * The authorization matrix (issue 16), generated from the one table below: every role × action ×
 * transport is allowed, refused with the documented code, or not applicable (said, not skipped).
 *
 * Roles: owner, member and observer of the conversation; removed (a member the owner took out,
 * whose replica still holds the conversation as it was); stranger (never a member); admin (a token
 * with the admin claim, not a member); anonymous (a token that does not verify).
 *
 * Transports: `/sync/<id>` (the stock y-websocket provider), `/sync` (the multiplexed socket:
 * refusals are frames for the conversation, the socket goes on; a bad token closes it) and REST.
 * On a socket a write is what a replica (or a modified client) puts in its document: members write
 * once synced, the others into their replica before they connect, as an offline write.
 *
 * Socket refusals name their close code (or refusal frame) and the code `ticks_refused_total`
 * counts them under; REST refusals their HTTP status and JSON error code. Every refused cell also
 * checks that the conversation the server holds did not change.
 */

const ROLES = ['owner', 'member', 'observer', 'removed', 'stranger', 'admin', 'anonymous'] as const
type Role = (typeof ROLES)[number]

type Cell =
  | { kind: 'allowed' }
  | { kind: 'closed'; close: 4401 | 4403; code: string }
  | { kind: 'http'; status: 401 | 403; code: string }
  | { kind: 'not-applicable'; why: string }

type Row = Record<Role, Cell>

const ok: Cell = { kind: 'allowed' }
const closed = (close: 4401 | 4403, code: string): Cell => ({ kind: 'closed', close, code })
const http = (status: 401 | 403, code: string): Cell => ({ kind: 'http', status, code })
const na = (why: string): Cell => ({ kind: 'not-applicable', why })
/** One cell for every role. */
const all = (cell: Cell): Row => Object.fromEntries(ROLES.map((role) => [role, cell])) as Row
const row = (...cells: Cell[]): Row => Object.fromEntries(ROLES.map((role, i) => [role, cells[i]!])) as Row

const notMember = closed(4403, 'not-a-member')
const readOnly = closed(4403, 'read-only')
const forbiddenRoot = closed(4403, 'forbidden-root')
const noToken = closed(4401, 'unauthenticated')
const restForbidden = http(403, 'forbidden')
const restNoToken = http(401, 'unauthorized')

const ACTIONS = [
  'connect',
  'read',
  'send',
  'receipt',
  'change title',
  'add member',
  'remove member',
  'announce',
  'history',
] as const
type Action = (typeof ACTIONS)[number]

/** Each `row` lists its cells in the order of ROLES: owner, member, observer, removed, stranger, admin, anonymous. */
const MATRIX: Record<Action, { socket: Row; rest: Row }> = {
  connect: {
    socket: row(ok, ok, ok, notMember, notMember, notMember, noToken),
    rest: all(na('REST has no connection: each request is authorised on its own')),
  },
  read: {
    socket: row(ok, ok, ok, notMember, notMember, notMember, noToken),
    rest: row(ok, ok, ok, restForbidden, restForbidden, restForbidden, restNoToken),
  },
  send: {
    socket: row(ok, ok, readOnly, notMember, notMember, notMember, noToken),
    rest: row(ok, ok, http(403, 'read-only'), restForbidden, restForbidden, restForbidden, restNoToken),
  },
  receipt: {
    socket: row(ok, ok, readOnly, notMember, notMember, notMember, noToken),
    rest: all(na('no REST route writes receipts: a replica writes them as it shows messages')),
  },
  'change title': {
    socket: row(ok, forbiddenRoot, readOnly, notMember, notMember, notMember, noToken),
    rest: all(na('no REST route changes a title: owners write the meta over the socket')),
  },
  'add member': {
    socket: row(ok, forbiddenRoot, readOnly, notMember, notMember, notMember, noToken),
    rest: all(na('no REST route changes members: owners write the meta over the socket')),
  },
  'remove member': {
    socket: row(ok, forbiddenRoot, readOnly, notMember, notMember, notMember, noToken),
    rest: all(na('no REST route changes members: owners write the meta over the socket')),
  },
  // No socket frame announces: what a client can do is write the server's `system` root itself.
  announce: {
    socket: row(forbiddenRoot, forbiddenRoot, readOnly, notMember, notMember, notMember, noToken),
    rest: row(
      http(403, 'not-admin'),
      http(403, 'not-admin'),
      http(403, 'not-admin'),
      http(403, 'not-admin'),
      http(403, 'not-admin'),
      ok,
      restNoToken,
    ),
  },
  history: {
    socket: all(na('sealed history is paged over REST only; the socket carries the live window')),
    rest: row(ok, ok, ok, restForbidden, restForbidden, restForbidden, restNoToken),
  },
}

const USERS: Record<Role, string> = {
  owner: 'alice',
  member: 'bob',
  observer: 'olga',
  removed: 'remy',
  stranger: 'sam',
  admin: 'ops',
  anonymous: 'nobody',
}
/** Roles whose replica is in the conversation: they sync first, then write live. */
const SYNCS_FIRST: ReadonlySet<Role> = new Set(['owner', 'member', 'observer'])
const SEED_TEXT = 'seed: written before the matrix'

type Transport = '/sync/<id>' | '/sync' | 'REST'
const TRANSPORTS: Transport[] = ['/sync/<id>', '/sync', 'REST']

let server: TestServer
let conversationId: string
let seedId: string
/** What the removed member's replica held when the owner removed them. */
let staleReplica: Uint8Array
const tokens = {} as Record<Role, string>

beforeAll(async () => {
  server = await startTestServer()
  conversationId = await server.conversation('alice', { bob: 'member', olga: 'observer', remy: 'member' })
  for (const role of ROLES) tokens[role] = await tokenFor(USERS[role], JWT_SECRET)
  tokens.admin = await tokenFor('ops', JWT_SECRET, { ticks_admin: true })
  tokens.anonymous = 'not-a-token'
  const seeded = await rest('POST', `/api/conversations/${conversationId}/messages`, 'owner', {
    text: SEED_TEXT,
  })
  seedId = (seeded.body as { id: string }).id

  // remy syncs as a member; alice removes him; his replica keeps what it had.
  const remy = await stockClient(server, conversationId, 'remy')
  const alice = await stockClient(server, conversationId, 'alice')
  try {
    await until(() => remy.provider.synced && alice.provider.synced, 5000, 'remy and alice to sync')
    await until(() => remy.doc.getMap('u:alice').has(`m|${seedId}`), 5000, 'remy to hold the seed')
    alice.doc.getMap('meta').delete('member|remy')
    await until(() => remy.closes.some((close) => close.code === 4403), 5000, 'remy to be removed')
    staleReplica = Y.encodeStateAsUpdate(remy.doc)
  } finally {
    remy.destroy()
    alice.destroy()
  }
}, 30_000)

afterAll(async () => {
  await server?.close()
})

describe('authorization matrix (issue 16): role × action × transport, from one table', () => {
  for (const action of ACTIONS) {
    for (const transport of TRANSPORTS) {
      const cells = transport === 'REST' ? MATRIX[action].rest : MATRIX[action].socket
      for (const role of ROLES) {
        const cell = cells[role]
        it(`${action} · ${transport} · ${role}: ${describeCell(cell)}`, { timeout: 20_000 }, async () => {
          if (cell.kind === 'not-applicable') {
            // Said in the table, not skipped: there is no such request to make.
            expect(cell.why.length).toBeGreaterThan(0)
            return
          }
          const tag = `${action}-${transport}-${role}`.replace(/[^A-Za-z0-9]+/g, '-')
          if (transport === 'REST') await restCell(action, role, cell, tag)
          else await socketCell(action, transport, role, cell, tag)
        })
      }
    }
  }

  it('a conversation that does not exist: 4404 on a socket (a refusal frame on /sync), 404 on REST', async () => {
    const stock = await openStock('nosuch', 'admin', new Y.Doc({ guid: 'nosuch' }))
    try {
      await until(() => stock.refusals().length > 0, 5000, 'the refusal')
      expect(stock.refusals()[0]!.code).toBe(4404)
    } finally {
      stock.close()
    }
    const mux = await muxClient(server, 'alice', tokens.owner)
    try {
      const replica = mux.join('nosuch')
      await until(() => replica.refusals.length > 0, 5000, 'the refusal frame')
      expect(replica.refusals[0]!.code).toBe(4404)
    } finally {
      mux.close()
    }
    for (const [method, path, role, body] of [
      ['GET', '/api/conversations/nosuch', 'owner', undefined],
      ['GET', '/api/conversations/nosuch/history', 'owner', undefined],
      ['POST', '/api/conversations/nosuch/messages', 'owner', { text: 'x' }],
      ['POST', '/api/announcements', 'admin', { text: 'x', conversationId: 'nosuch' }],
    ] as const) {
      const answer = await rest(method, path, role, body)
      expect(answer, `${method} ${path}`).toMatchObject({
        status: 404,
        body: { error: { code: 'not-found' } },
      })
    }
  })
})

function describeCell(cell: Cell): string {
  switch (cell.kind) {
    case 'allowed':
      return 'allowed'
    case 'closed':
      return `refused ${cell.close} (${cell.code})`
    case 'http':
      return `refused ${cell.status} (${cell.code})`
    case 'not-applicable':
      return `not applicable: ${cell.why}`
  }
}

// ——— sockets ———

/** What a replica writes for an action, and how to see it took effect on the server's copy. */
interface Write {
  write(doc: Y.Doc): void
  applied(copy: Y.Doc): boolean
}

/**
 * The writes of an action, in order (the owner's member removal first adds the member it removes,
 * so the matrix leaves the conversation as it found it). None for connect and read.
 */
function writesOf(action: Action, role: Role, tag: string): Write[] {
  const userId = USERS[role]
  const record = (id: string) => ({ id, text: `${action} by ${role}`, createdAt: Date.now(), to: ['alice'] })
  switch (action) {
    case 'connect':
    case 'read':
    case 'history':
      return []
    case 'send':
      return [
        {
          write: (doc) => doc.getMap(`u:${userId}`).set(`m|${tag}`, record(tag)),
          applied: (copy) =>
            copy.getMap(`u:${userId}`).has(`m|${tag}`) && copy.getArray('server').toArray().includes(tag),
        },
      ]
    case 'receipt':
      return [
        {
          write: (doc) => {
            const seq = doc.getArray('server').length
            doc.getMap(`u:${userId}`).set(`r|${tag}`, { d: seq, r: seq })
          },
          applied: (copy) => copy.getMap(`u:${userId}`).has(`r|${tag}`),
        },
      ]
    case 'change title':
      return [
        {
          write: (doc) => doc.getMap('meta').set('title', `Renamed by ${tag}`),
          applied: (copy) => copy.getMap('meta').get('title') === `Renamed by ${tag}`,
        },
      ]
    case 'add member':
      return [
        {
          write: (doc) => doc.getMap('meta').set(`member|${tag}`, { role: 'owner', joinedAt: 1 }),
          applied: (copy) => copy.getMap('meta').has(`member|${tag}`),
        },
      ]
    case 'remove member': {
      const remove: Write = {
        write: (doc) => doc.getMap('meta').delete(role === 'owner' ? `member|${tag}` : 'member|bob'),
        applied: (copy) => !copy.getMap('meta').has(role === 'owner' ? `member|${tag}` : 'member|bob'),
      }
      if (role !== 'owner') return [remove]
      return [
        {
          write: (doc) => doc.getMap('meta').set(`member|${tag}`, { role: 'member', joinedAt: 1 }),
          applied: (copy) => copy.getMap('meta').has(`member|${tag}`),
        },
        remove,
      ]
    }
    case 'announce':
      return [
        {
          write: (doc) => doc.getMap('system').set(`m|${tag}`, record(tag)),
          applied: (copy) => copy.getMap('system').has(`m|${tag}`),
        },
      ]
  }
}

/** One socket of a role, whichever transport: what the cells look at. */
interface SocketUnderTest {
  doc: Y.Doc
  /** The server admitted the replica to the conversation (its first sync frame arrived). */
  admitted(): boolean
  /** Close codes, or refusal frames on `/sync`. */
  refusals(): { code: number; reason: string }[]
  /** The multiplexed socket itself is still open (a refusal ends one conversation only). */
  socketOpen(): boolean
  close(): void
}

async function socketCell(action: Action, transport: Transport, role: Role, cell: Cell, tag: string) {
  const replica = new Y.Doc({ guid: conversationId })
  if (role === 'removed') Y.applyUpdate(replica, staleReplica)
  const writes = writesOf(action, role, tag)
  const syncsFirst = SYNCS_FIRST.has(role)
  // Not in the conversation: the write waits in the replica, sent as it connects.
  if (!syncsFirst) for (const { write } of writes) write(replica)
  const heldBefore = Y.encodeStateVector(replica)
  const before = await serverState()
  const refusedBefore = cell.kind === 'closed' ? await refusedCount(cell) : 0
  const socket =
    transport === '/sync' ? await openMux(role, replica) : await openStock(conversationId, role, replica)
  try {
    await until(() => socket.admitted() || socket.refusals().length > 0, 5000, 'admission or refusal')
    if (cell.kind === 'allowed') {
      expect(socket.refusals()).toEqual([])
      if (action === 'read') {
        await until(() => replica.getMap('u:alice').has(`m|${seedId}`), 5000, 'the seed message')
      }
      for (const { write, applied } of writes) {
        write(replica)
        await until(async () => applied(await serverCopy()), 5000, `${action} to take effect`)
      }
      expect(socket.refusals()).toEqual([])
      return
    }
    if (cell.kind !== 'closed') throw new Error(`a socket cell cannot be ${cell.kind}`)
    if (syncsFirst) for (const { write } of writes) write(replica)
    await until(() => socket.refusals().length > 0, 5000, `the refusal (${cell.close})`)
    const [refusal] = socket.refusals()
    expect(refusal!.code).toBe(cell.close)
    expect(refusal!.reason.length).toBeGreaterThan(0)
    await until(
      async () => (await refusedCount(cell)) > refusedBefore,
      5000,
      `ticks_refused_total{${cell.code}}`,
    )
    if (transport === '/sync' && cell.close !== 4401) expect(socket.socketOpen()).toBe(true)
    // Nothing applied, and a replica that was never admitted was shown nothing new.
    expect(await serverState()).toBe(before)
    if (!syncsFirst) expect(Y.encodeStateVector(replica)).toEqual(heldBefore)
  } finally {
    socket.close()
  }
}

async function openStock(id: string, role: Role, doc: Y.Doc): Promise<SocketUnderTest> {
  const provider = new WebsocketProvider(`${server.wsUrl}/sync`, id, doc, {
    params: { token: tokens[role] },
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    disableBc: true,
  })
  const closes: { code: number; reason: string }[] = []
  provider.on('connection-close', (event: CloseEvent | null) => {
    if (event) closes.push({ code: event.code, reason: event.reason })
  })
  return {
    doc,
    admitted: () => provider.synced,
    refusals: () => closes,
    socketOpen: () => closes.length === 0,
    close: () => provider.destroy(),
  }
}

async function openMux(role: Role, doc: Y.Doc): Promise<SocketUnderTest> {
  const client: MuxClient = await muxClient(server, USERS[role], tokens[role])
  let socketClose: { code: number; reason: string } | undefined
  void client.closed.then((close) => {
    socketClose = close
  })
  const replica = client.join(conversationId, doc)
  return {
    doc,
    admitted: () => replica.frames > 0 && replica.refusals.length === 0,
    refusals: () => (socketClose ? [socketClose, ...replica.refusals] : replica.refusals),
    socketOpen: () => socketClose === undefined && client.socket.readyState === WebSocket.OPEN,
    close: () => client.close(),
  }
}

// ——— REST ———

async function restCell(action: Action, role: Role, cell: Cell, tag: string) {
  const path = `/api/conversations/${conversationId}`
  const before = await serverState()
  let answer: { status: number; body: unknown }
  switch (action) {
    case 'read':
      answer = await rest('GET', path, role)
      break
    case 'send':
      answer = await rest('POST', `${path}/messages`, role, { text: `sent by ${tag}` })
      break
    case 'announce':
      answer = await rest('POST', '/api/announcements', role, { text: `announced by ${tag}`, conversationId })
      break
    case 'history':
      answer = await rest('GET', `${path}/history`, role)
      break
    default:
      throw new Error(`the table names REST for ${action}, which has no route`)
  }
  if (cell.kind === 'allowed') {
    expect(answer.status, JSON.stringify(answer.body)).toBeLessThan(300)
    const body = answer.body as Record<string, unknown>
    if (action === 'read') {
      expect((body.messages as { id: string }[]).map((m) => m.id)).toContain(seedId)
      expect(await listedFor(role)).toContain(conversationId)
    }
    if (action === 'send') {
      expect(body).toMatchObject({ author: USERS[role], status: 'sent' })
      const copy = await serverCopy()
      expect(copy.getArray('server').toArray()).toContain(body.id)
    }
    if (action === 'announce') {
      const [posted] = body.announcements as { id: string }[]
      expect((await serverCopy()).getMap('system').has(`m|${posted!.id}`)).toBe(true)
    }
    if (action === 'history') expect(body).toMatchObject({ messages: [], sealedThrough: 0 })
    return
  }
  if (cell.kind !== 'http') throw new Error(`a REST cell cannot be ${cell.kind}`)
  expect(answer).toMatchObject({ status: cell.status, body: { error: { code: cell.code } } })
  expect(typeof (answer.body as { error: { message: unknown } }).error.message).toBe('string')
  if (action === 'read' && role !== 'anonymous') expect(await listedFor(role)).not.toContain(conversationId)
  expect(await serverState()).toBe(before)
}

async function rest(
  method: 'GET' | 'POST',
  path: string,
  role: Role,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${tokens[role]}`,
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  })
  return { status: response.status, body: await response.json() }
}

async function listedFor(role: Role): Promise<string[]> {
  const { body } = await rest('GET', '/api/conversations', role)
  return (body as { conversations: { id: string }[] }).conversations.map((c) => c.id)
}

// ——— what the server holds ———

/** The conversation as the server serves it now, to a fresh replica of the owner. */
const serverCopy = () => plainClientCopy(server, conversationId, 'alice')

/** Everything the document holds, comparable: clocks per client and every root's content. */
async function serverState(): Promise<string> {
  const copy = await serverCopy()
  const clocks = [...Y.decodeStateVector(Y.encodeStateVector(copy))].sort(([a], [b]) => a - b)
  const roots = [...copy.share.keys()]
    .sort()
    .map((name) => [name, name === 'server' ? copy.getArray(name).toJSON() : copy.getMap(name).toJSON()])
  return JSON.stringify({ clocks, roots })
}

async function refusedCount(cell: Extract<Cell, { kind: 'closed' }>): Promise<number> {
  const line = `ticks_refused_total{close_code="${cell.close}",code="${cell.code}"}`
  const text = (await server.app.inject({ url: '/metrics' })).body
  const found = text.split('\n').find((l) => l.startsWith(`${line} `))
  return found ? Number(found.slice(line.length + 1)) : 0
}

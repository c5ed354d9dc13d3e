import { Conversation } from '@ticks/core'
import { afterAll, beforeAll, expect } from 'vitest'
import { WebSocket } from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { type CliServer, killCliServers, startCli } from './cli-process.js'
import { startPostgres, type TestPostgres } from './postgres.js'
import { startRedis, type TestRedis } from './redis.js'
import { JWT_SECRET, tokenFor } from './server.js'

/**
 * Several `ticks-server` processes over one PostgreSQL database and one Redis (DESIGN section 10),
 * and what the tests of them (cluster-processes, cluster-chaos) do with them.
 */

export interface ClusterServices {
  readonly postgres: TestPostgres
  readonly redis: TestRedis
}

/**
 * A PostgreSQL and a Redis of the calling test file's own, started before its tests; after them
 * every node still running is killed and both are stopped and removed. Read them in tests only.
 */
export function useClusterServices(): ClusterServices {
  const services: { postgres?: TestPostgres; redis?: TestRedis } = {}
  beforeAll(async () => {
    ;[services.postgres, services.redis] = await Promise.all([startPostgres(), startRedis()])
  }, 60_000)
  afterAll(async () => {
    killCliServers()
    await Promise.all([services.postgres?.close(), services.redis?.close()])
  }, 30_000)
  return {
    get postgres() {
      if (!services.postgres) throw new Error('PostgreSQL is not started (only tests may use it)')
      return services.postgres
    },
    get redis() {
      if (!services.redis) throw new Error('Redis is not started (only tests may use it)')
      return services.redis
    },
  }
}

/** Short leases, so that a dead owner is replaced within seconds (the default is 5 s). */
export const LEASE_MS = 1500
const LEASE = ['--lease-ms', String(LEASE_MS), '--lease-renew-ms', '250']

export interface NodeSetup {
  database: string
  redisUrl: string
  nodeId: string
  /** Listen here (a restarted node keeps its address, as clients know it); default a free port. */
  port?: number
}

/** One node of the deployment as a child process; resolves once it listens. */
export const startNode = ({ database, redisUrl, nodeId, port }: NodeSetup): Promise<CliServer> =>
  startCli([
    '--store',
    database,
    '--redis',
    redisUrl,
    '--node-id',
    nodeId,
    ...LEASE,
    '--jwt-secret',
    JWT_SECRET,
    ...(port === undefined ? [] : ['--port', String(port)]),
  ])

export const wsUrlOf = (node: CliServer): string => node.url.replace(/^http/, 'ws')

export interface NodeClient {
  doc: Y.Doc
  conversation: Conversation
  provider: WebsocketProvider
  /** Every close a server sent this client (on any of the nodes it used). */
  closes: { code: number; reason: string }[]
  /** Point the client at another node (its URL list's next entry), keeping its document. */
  moveTo(node: CliServer): Promise<void>
  destroy(): void
}

/** A stock y-websocket client with the Ticks model, as an app would run it. */
export async function nodeClient(node: CliServer, id: string, userId: string): Promise<NodeClient> {
  const doc = new Y.Doc({ guid: id })
  const conversation = new Conversation(doc, { userId, replicaId: `${userId}-${doc.clientID}` })
  const closes: NodeClient['closes'] = []
  const connect = async (target: CliServer) => {
    const provider = new WebsocketProvider(`${wsUrlOf(target)}/sync`, id, doc, {
      params: { token: await tokenFor(userId) },
      WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
      disableBc: true,
    })
    provider.on('connection-close', (event: CloseEvent | null) => {
      if (event) closes.push({ code: event.code, reason: event.reason })
    })
    return provider
  }
  const self: NodeClient = {
    doc,
    conversation,
    closes,
    provider: await connect(node),
    async moveTo(target) {
      self.provider.destroy()
      self.provider = await connect(target)
    },
    destroy() {
      self.provider.destroy()
      conversation.destroy()
    },
  }
  return self
}

export async function api(node: CliServer, path: string, user: string, body?: unknown) {
  const response = await fetch(`${node.url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      authorization: `Bearer ${await tokenFor(user)}`,
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  })
  // biome-ignore lint/suspicious/noExplicitAny: REST bodies, checked by the assertions
  return { status: response.status, body: (await response.json()) as any }
}

/** Which of the nodes stamps conversations now, by their /api/state (it is per node, cached ≤ 5 s). */
export async function sequencerOf(nodes: CliServer[]): Promise<CliServer | undefined> {
  for (const node of nodes) {
    const state = await api(node, '/api/state', 'alice').catch(() => undefined)
    if (state?.body.sequencing > 0) return node
  }
  return undefined
}

/**
 * Which of the nodes holds a sequencer lease now, by its `ticks_sequencer_leases` gauge: unlike
 * /api/state not cached, so right after a failover it names the new owner, not the dead one.
 */
export async function leaseHolderOf(nodes: CliServer[]): Promise<CliServer | undefined> {
  for (const node of nodes) {
    const metrics = await fetch(`${node.url}/metrics`)
      .then((response) => response.text())
      .catch(() => '')
    const held = /^ticks_sequencer_leases (\d+)$/m.exec(metrics)
    if (held && Number(held[1]) > 0) return node
  }
  return undefined
}

export const allSent = (clients: { conversation: Conversation }[], texts: string[]) =>
  clients.every((c) => texts.every((text) => c.conversation.messages().some((m) => m.text === text && m.seq)))

/** The stored conversation, as a third node reads it: every message once, seqs 1…n. */
export async function expectGapFree(node: CliServer, id: string, texts: string[]) {
  const { status, body } = await api(node, `/api/conversations/${id}`, 'alice')
  expect(status).toBe(200)
  const messages = body.messages as { text: string; seq: number }[]
  expect(messages.map((m) => m.text).sort()).toEqual([...texts].sort())
  expect(messages.map((m) => m.seq)).toEqual(messages.map((_, i) => i + 1))
}

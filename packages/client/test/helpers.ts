import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Status } from '@ticks/core'
import { createServer, type ServerOptions } from '@ticks/server'
import WS from 'ws'
import { type ClientOptions, createClient, type LiveConversation, type TicksClient } from '../src/index.js'

/** The real server on 127.0.0.1, SQLite in a temporary data dir; `restart()` keeps dir and port. */
export async function startServer(options: ServerOptions = {}) {
  const dataDir = await mkdtemp(join(tmpdir(), 'ticks-client-'))
  const boot = async (port: number) => {
    const app = await createServer({ data: dataDir, logger: false, webRoot: false, ...options })
    await app.listen({ port, host: '127.0.0.1' })
    return app
  }
  let app: Awaited<ReturnType<typeof createServer>> = await boot(0)
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  const http = `http://127.0.0.1:${port}`
  const post = async (path: string, body: unknown, token?: string) => {
    const response = await fetch(http + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
      body: JSON.stringify(body),
    })
    if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`)
    return response.json() as Promise<Record<string, string>>
  }
  return {
    url: `ws://127.0.0.1:${port}`,
    token: async (userId: string) => (await post('/api/session', { userId })).token!,
    conversation: async (ownerToken: string, members: string[]) =>
      (await post('/api/conversations', { title: 'test', members }, ownerToken)).id!,
    /** A message sent through REST (as a bot would): stamped at once. */
    message: async (token: string, conversationId: string, text: string) =>
      (await post(`/api/conversations/${conversationId}/messages`, { text }, token)) as unknown as {
        id: string
        seq: number
      },
    stop: () => app.close(),
    async restart() {
      await app.close()
      app = await boot(port)
    },
    async close() {
      await app.close()
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}

/**
 * A network this test can unplug: while cut, new sockets go to a closed port (refused, like a
 * machine without network) and open ones are dropped without a close frame.
 */
export function createNetwork() {
  let up = true
  let opened = 0
  let fetches = 0
  const live = new Set<WS>()
  class SwitchedWebSocket extends WS {
    constructor(url: string, protocols?: string | string[]) {
      super(up ? url : 'ws://127.0.0.1:1/unreachable', protocols)
      opened++
      live.add(this)
      this.on('close', () => live.delete(this))
    }
  }
  const switchedFetch: typeof fetch = (input, init) => {
    fetches++
    return up ? fetch(input, init) : Promise.reject(new TypeError('fetch failed: the network is cut'))
  }
  return {
    WebSocket: SwitchedWebSocket as unknown as typeof WebSocket,
    fetch: switchedFetch,
    /** Requests made through `fetch` so far (while cut too). */
    fetches: () => fetches,
    /** Sockets constructed so far (attempts). */
    attempts: () => opened,
    /** Sockets not yet closed. */
    openSockets: () => live.size,
    cut() {
      up = false
      for (const socket of live) socket.terminate()
    },
    restore() {
      up = true
    },
  }
}

export function testClient(
  options: Omit<ClientOptions, 'WebSocket'> & { WebSocket?: typeof WebSocket },
): TicksClient {
  return createClient({
    WebSocket: WS as unknown as typeof WebSocket,
    persistence: 'none',
    ...options,
    connection: { backoffBaseMs: 40, maxBackoffMs: 400, ...options.connection },
  })
}

/** Poll until `check` holds; fails with `what` and the last observed value otherwise. */
export async function until<T>(what: string, read: () => T, check: (value: T) => boolean, timeoutMs = 8000) {
  const deadline = Date.now() + timeoutMs
  let value = read()
  while (!check(value)) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(value)}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
    value = read()
  }
  return value
}

export const statuses = (conversation: LiveConversation, ids: string[]): Status[] =>
  ids.map((id) => conversation.status(id))

const RANK: Record<Status, number> = { failed: -1, pending: 0, sent: 1, delivered: 2, read: 3 }

/** Record every status each message shows, on every change the conversation reports. */
export function recordStatuses(conversation: LiveConversation) {
  const seen = new Map<string, Status[]>()
  const record = () => {
    for (const message of conversation.messages()) {
      const history = seen.get(message.id) ?? []
      if (history.at(-1) !== message.status) history.push(message.status)
      seen.set(message.id, history)
    }
  }
  record()
  const stop = conversation.onChange(record)
  return {
    seen,
    stop,
    /** Messages whose observed status ever went down. */
    decreases: () =>
      [...seen].filter(([, history]) =>
        history.some((status, i) => i > 0 && RANK[status] < RANK[history[i - 1]!]),
      ),
  }
}

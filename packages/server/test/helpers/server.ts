import { Conversation } from '@ticks/core'
import { SignJWT } from 'jose'
import { WebSocket } from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { type ServerOptions, startServer } from '../../src/index.js'
import { pollUntil } from './until.js'

export const JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256'

export const tokenFor = (
  userId: string,
  secret = JWT_SECRET,
  claims: Record<string, unknown> = {},
): Promise<string> =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .sign(new TextEncoder().encode(secret))

export interface TestServer {
  url: string
  wsUrl: string
  app: Awaited<ReturnType<typeof startServer>>['app']
  /** POST /api/conversations as `owner`; returns the id. */
  conversation(owner: string, members: Record<string, 'owner' | 'member' | 'observer'>): Promise<string>
  close(): Promise<void>
}

export async function startTestServer(options: ServerOptions = {}): Promise<TestServer> {
  const { app, url } = await startServer({
    port: 0,
    host: '127.0.0.1',
    store: 'memory',
    jwtSecret: JWT_SECRET,
    logger: false,
    webRoot: false,
    ...options,
  })
  return {
    app,
    url,
    wsUrl: url.replace(/^http/, 'ws'),
    async conversation(owner, members) {
      const response = await fetch(`${url}/api/conversations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenFor(owner)}` },
        body: JSON.stringify({ title: 'Test', members }),
      })
      if (response.status !== 201)
        throw new Error(`create failed: ${response.status} ${await response.text()}`)
      return ((await response.json()) as { id: string }).id
    },
    close: () => app.close(),
  }
}

/** The stock y-websocket client, exactly as an app would use it, plus the Ticks model on its doc. */
export interface StockClient {
  doc: Y.Doc
  provider: WebsocketProvider
  conversation: Conversation
  closes: { code: number; reason: string }[]
  destroy(): void
}

export async function stockClient(
  server: { wsUrl: string },
  conversationId: string,
  userId: string,
  doc = new Y.Doc({ guid: conversationId }),
): Promise<StockClient> {
  const provider = new WebsocketProvider(`${server.wsUrl}/sync`, conversationId, doc, {
    params: { token: await tokenFor(userId) },
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    disableBc: true,
  })
  const closes: StockClient['closes'] = []
  provider.on('connection-close', (event: CloseEvent | null) => {
    if (event) closes.push({ code: event.code, reason: event.reason })
  })
  const conversation = new Conversation(doc, { userId, replicaId: `${userId}-${doc.clientID}` })
  return {
    doc,
    provider,
    conversation,
    closes,
    destroy() {
      provider.destroy()
      conversation.destroy()
    },
  }
}

export const until = (
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what = 'a condition',
): Promise<void> => pollUntil(condition, timeoutMs, what, 10)

/**
 * A plain y-websocket client, no Ticks code, as any third-party client: it syncs, then hands back
 * what it got (state vector and state re-encoded, loaded into a fresh doc), which is returned.
 * Throws when it cannot sync within `timeoutMs` or its copy does not re-encode.
 */
export async function plainClientCopy(
  server: { wsUrl: string },
  conversationId: string,
  userId = 'bob',
  timeoutMs = 5000,
): Promise<Y.Doc> {
  const doc = new Y.Doc({ guid: conversationId })
  const provider = new WebsocketProvider(`${server.wsUrl}/sync`, conversationId, doc, {
    params: { token: await tokenFor(userId) },
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    disableBc: true,
  })
  try {
    await until(() => provider.synced, timeoutMs, 'a plain client to sync')
    Y.decodeStateVector(Y.encodeStateVector(doc))
    const copy = new Y.Doc({ guid: conversationId })
    Y.applyUpdate(copy, Y.encodeStateAsUpdate(doc))
    return copy
  } finally {
    provider.destroy()
    doc.destroy()
  }
}

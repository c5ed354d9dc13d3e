import { TicksError } from '@ticks/core'
import * as Y from 'yjs'
import { deliverInBackground } from './background-delivery.js'
import { type ConnectionOptions, DEFAULT_CONNECTION_OPTIONS } from './connection.js'
import {
  type HistoryCache,
  historyDatabaseName,
  indexedDbHistoryCache,
  memoryHistoryCache,
} from './history-cache.js'
import { Inbox } from './inbox.js'
import { indexedDbKeyStore, type KeyStore, keyDatabaseName, memoryKeyStore } from './key-store.js'
import { LiveConversation } from './live-conversation.js'
import { OutboxKeeper } from './outbox-keeper.js'
import { claimReplicaId } from './replica-id.js'
import { SharedSocket } from './shared-socket.js'

const noop = () => {}

export interface ClientOptions {
  /**
   * The server's base URL, `ws(s)://host[:port]`; the client connects to `<url>/sync` (or
   * `<url>/sync/<id>` per conversation, see `transport`). Or the URLs of several nodes of one
   * deployment (DESIGN section 10), tried in turn: a connection that fails or drops retries on the
   * next, so a dead node's clients move to the others.
   */
  url: string | readonly string[]
  token: string
  userId: string
  /** Default: `indexeddb` where IndexedDB exists, else `none` (Node bots and tests). */
  persistence?: 'indexeddb' | 'none'
  /** A WebSocket implementation, e.g. the `ws` package in Node. Default: the global one. */
  WebSocket?: typeof WebSocket
  /** For the REST calls (history pages). Default: the global `fetch`. */
  fetch?: typeof fetch
  /**
   * This replica's receipt key; by default a per-device, per-tab id, stable across reloads and
   * never shared with another live client (see replica-id.ts). One given here must not be either.
   */
  replicaId?: string
  /** Connect when a conversation is opened (default true); false: offline until `reconnect()`. */
  connect?: boolean
  /**
   * `shared` (default): one socket for every conversation and the inbox (`/sync`, the server's
   * multiplexed socket; browsers cap sockets); tabs meet through the server. `per-conversation`:
   * a stock y-websocket socket per open conversation (`/sync/<id>`, for a server that speaks only
   * that), with a tab-to-tab channel. The inbox always uses the shared socket.
   */
  transport?: 'shared' | 'per-conversation'
  connection?: Partial<ConnectionOptions>
  deliveredDelayMs?: number
  typingTimeoutMs?: number
  /**
   * Where this device keeps its signing key. Default: IndexedDB with `persistence: 'indexeddb'`
   * (one key per browser profile and user), else memory (a new key per client).
   */
  keyStore?: KeyStore
}

/** The public half of this device's signing key, as conversations publish it (`k|<keyId>`). */
export interface DeviceKey {
  keyId: string
  publicKey: string
  createdAt: number
}

export interface TicksClient {
  readonly userId: string
  readonly replicaId: string
  /** The live conversation; opening one already open returns it again (close each handle). */
  open(conversationId: string): LiveConversation
  /** Every open conversation. */
  conversations(): LiveConversation[]
  /**
   * Try every conversation now, clearing stops: a "retry now" button, or resuming after
   * `setToken`. (The browser's `online` event only cuts short the back-offs of conversations
   * waiting to retry.)
   */
  reconnectAll(): void
  /** Use this token for every later connection attempt (e.g. after a 4401, then `reconnectAll()`). */
  setToken(token: string): void
  /**
   * The user's conversation list, live from the server (it opens the shared socket): a full list,
   * then every change, without loading any conversation. Unless `deliver` is false, conversations
   * it shows with messages above this user's delivered watermark are synced in the background and
   * let go, so that "delivered" holds for conversations the app has not opened.
   */
  inbox(options?: { deliver?: boolean }): Inbox
  /**
   * Go offline (the browser's `offline`, or the app's choice): every conversation and the inbox
   * stop using the network, keeping their local copies and outboxes, until `resume()`.
   */
  pause(): void
  /**
   * Back online: the conversations `pause()` took offline (and those opened since) connect again,
   * and the inbox; one the server had stopped stays stopped.
   */
  resume(): void
  readonly paused: boolean
  /** This device's signing key (made on first use); its messages are signed with it. */
  signingKey(): Promise<DeviceKey>
  /**
   * Sign with a new key from now on. The old key stays published and its messages stay verified;
   * revoke it (`revokeKey`) if it may have leaked.
   */
  rotateSigningKey(): Promise<DeviceKey>
  /**
   * Revoke one of this user's keys (a lost device's, say) in every open conversation where it is
   * published: what it signed shows unverified from then on. Returns how many conversations
   * changed; a conversation not open now is not touched (open it and call its `revokeKey`).
   */
  revokeKey(keyId: string): number
  /** Close every conversation (those still closing included): sockets, timers, IndexedDB handles. */
  close(): Promise<void>
}

export function createClient(options: ClientOptions): TicksClient {
  if (!options.userId) throw new TicksError('invalid-argument', 'userId is required')
  const WebSocketImpl = options.WebSocket ?? (globalThis.WebSocket as typeof WebSocket | undefined)
  if (!WebSocketImpl) {
    throw new TicksError('invalid-argument', 'No global WebSocket here: pass one (e.g. the ws package)')
  }
  const persistence = options.persistence ?? (globalThis.indexedDB ? 'indexeddb' : 'none')
  if (persistence === 'indexeddb' && !globalThis.indexedDB) {
    throw new TicksError('invalid-argument', 'persistence "indexeddb" needs a global indexedDB')
  }
  // An id given by the app is its own to keep unique; ours is held until close().
  const claim =
    options.replicaId === undefined
      ? claimReplicaId(options.userId)
      : { id: options.replicaId, release: noop }
  const replicaId = claim.id
  const connection = { ...DEFAULT_CONNECTION_OPTIONS, ...options.connection }
  const fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  const keyStore =
    options.keyStore ??
    (persistence === 'indexeddb' ? indexedDbKeyStore(keyDatabaseName(options.userId)) : memoryKeyStore())
  const deviceKey = async (key: Promise<DeviceKey>): Promise<DeviceKey> => {
    const { keyId, publicKey, createdAt } = await key
    return { keyId, publicKey, createdAt }
  }
  /** Without persistence, pages of history are kept for the client's lifetime: a reopened chat pages from memory. */
  const memoryHistory = new Map<string, HistoryCache>()
  const historyCache = (conversationId: string): HistoryCache => {
    if (persistence === 'indexeddb') {
      return indexedDbHistoryCache(historyDatabaseName(options.userId, conversationId))
    }
    const cache = memoryHistory.get(conversationId) ?? memoryHistoryCache()
    memoryHistory.set(conversationId, cache)
    return cache
  }
  const open = new Map<string, LiveConversation>()
  /** Teardowns still running, per conversation: the next instance's storage opens after them. */
  const closing = new Map<string, Promise<void>>()
  let token = options.token
  let closed = false
  let paused = false
  /** What `pause()` took offline, and `resume()` brings back. */
  const pausedConversations = new Set<LiveConversation>()
  const transport = options.transport ?? 'shared'
  let socket: SharedSocket | undefined
  /** The one socket conversations (with `transport: 'shared'`) and the inbox share, made when first needed. */
  const sharedSocket = (): SharedSocket => {
    socket ??= new SharedSocket({ url: options.url, token, WebSocket: WebSocketImpl, options: connection })
    return socket
  }
  let inbox: Inbox | undefined
  // Created below, once `client` exists: it opens conversations through it.
  let outbox!: OutboxKeeper
  let stopDelivery: (() => void) | undefined

  const reconnectAll = () => {
    for (const conversation of open.values()) conversation.reconnect()
  }
  // Back online: every socket waiting out a back-off tries at once. The jitter that spreads a
  // server restart does not apply here; this client's own sockets are few. Nothing else changes:
  // a conversation disconnected on purpose, not connected yet or stopped by the server stays so.
  const onOnline = () => {
    for (const conversation of open.values()) conversation.skipBackoff()
    socket?.skipBackoff()
    if (!paused) outbox.flush()
  }
  const events = globalThis as { addEventListener?: typeof addEventListener }
  events.addEventListener?.('online', onOnline)

  const client: TicksClient = {
    userId: options.userId,
    replicaId,
    open(conversationId) {
      if (closed) throw new TicksError('invalid-argument', 'This client is closed')
      const existing = open.get(conversationId)
      if (existing) return existing.retain()
      const conversation = new LiveConversation({
        doc: new Y.Doc({ guid: conversationId }),
        userId: options.userId,
        replicaId,
        url: options.url,
        token,
        WebSocket: WebSocketImpl,
        persistence,
        connection,
        sharedSocket: transport === 'shared' ? sharedSocket() : undefined,
        autoConnect: (options.connect ?? true) && !paused,
        deliveredDelayMs: options.deliveredDelayMs ?? 30,
        typingTimeoutMs: options.typingTimeoutMs ?? 5000,
        after: closing.get(conversationId),
        onSend: () => outbox.wrote(conversationId),
        historyCache: historyCache(conversationId),
        keyStore,
        fetch: fetchImpl,
        onReleased: (teardown, unsent) => {
          if (open.get(conversationId) === conversation) open.delete(conversationId)
          outbox.released(conversationId, unsent)
          // With IndexedDB, an instance's storage opens only after its predecessor's teardown,
          // and its own teardown waits for that: so the latest teardown covers every earlier one.
          const settled = teardown.then(noop, noop)
          closing.set(conversationId, settled)
          void settled.then(() => {
            if (closing.get(conversationId) === settled) closing.delete(conversationId)
          })
        },
      })
      open.set(conversationId, conversation)
      // Opened while paused: it connects on `resume()`.
      if (paused) pausedConversations.add(conversation)
      return conversation
    },
    conversations: () => [...open.values()],
    reconnectAll,
    setToken(next) {
      token = next
      socket?.setToken(next)
      for (const conversation of open.values()) conversation.setToken(next)
    },
    inbox(inboxOptions = {}) {
      if (closed) throw new TicksError('invalid-argument', 'This client is closed')
      if (!inbox) {
        inbox = new Inbox(sharedSocket())
        if (!paused) sharedSocket().attachInbox(inbox)
        if (inboxOptions.deliver !== false) {
          stopDelivery = deliverInBackground({
            inbox,
            isOpen: (id) => open.has(id),
            open: (id) => client.open(id),
          })
        }
      }
      return inbox
    },
    pause() {
      if (paused || closed) return
      paused = true
      // A conversation the server stopped (4401/4403/4404, a refused write) is left as it is:
      // resuming it would clear the stop and ask again for what was refused.
      for (const conversation of open.values()) {
        if (conversation.stopped) continue
        conversation.disconnect()
        pausedConversations.add(conversation)
      }
      socket?.attachInbox(undefined)
    },
    resume() {
      if (!paused || closed) return
      paused = false
      if (inbox) sharedSocket().attachInbox(inbox)
      for (const conversation of pausedConversations) {
        if (open.get(conversation.id) === conversation) conversation.reconnect()
      }
      pausedConversations.clear()
      outbox.flush()
    },
    get paused() {
      return paused
    },
    signingKey: () => deviceKey(keyStore.current()),
    rotateSigningKey: () => deviceKey(keyStore.rotate()),
    revokeKey(keyId) {
      let revoked = 0
      for (const conversation of open.values()) if (conversation.revokeKey(keyId)) revoked++
      return revoked
    },
    async close() {
      if (!closed) {
        closed = true
        stopDelivery?.()
        outbox.stop()
        ;(globalThis as { removeEventListener?: typeof removeEventListener }).removeEventListener?.(
          'online',
          onOnline,
        )
      }
      const all = [...open.values()]
      try {
        // Closing releases every holder's handle: the client owns them all.
        await Promise.all([
          ...all.map(async (conversation) => {
            while (open.get(conversation.id) === conversation) await conversation.close()
          }),
          ...closing.values(),
        ])
      } finally {
        socket?.close()
        // Only now may another client write this replica's receipts: ours are all sent or stored.
        claim.release()
      }
    },
  }
  outbox = new OutboxKeeper(options.userId, { open: (id) => client.open(id), isOpen: (id) => open.has(id) })
  // What an earlier session of this user left unsent (a reload, a closed tab) goes up now.
  if (options.connect !== false) queueMicrotask(() => outbox.flush())
  return client
}

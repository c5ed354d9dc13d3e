import { createClient } from 'redis'
import { redactUrl } from '../redact-url.js'
import type { PubSub } from './pubsub.js'

export interface RedisPubSubOptions {
  url: string
  /** Prefix of every channel, so several deployments can share one Redis. */
  prefix?: string
  /** Longest wait between reconnect attempts (default 2 s): the store is polled meanwhile. */
  maxReconnectDelayMs?: number
  log?: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void }
}

type Client = ReturnType<typeof createClient>

/**
 * Redis pub/sub (node-redis 5) as the relay. Pub/sub, not streams: the store already is the
 * ordered, durable log that a late or reconnecting node reads, so Redis only has to be fast; a
 * stream would keep a second copy of every update in Redis's memory for replays nobody needs.
 *
 * One connection publishes and one subscribes (a subscribed Redis connection can do nothing else).
 * Both reconnect by themselves with a capped back-off; a reconnected subscriber re-subscribes to
 * its channels, and `onStatus` tells the rooms to catch up from the store.
 */
export class RedisPubSub implements PubSub {
  private readonly publisher: Client
  private readonly subscriber: Client
  private readonly prefix: string
  private readonly listeners = new Set<(connected: boolean) => void>()
  private wasConnected = false
  private closed = false

  private constructor(private readonly options: RedisPubSubOptions) {
    this.prefix = options.prefix ?? 'ticks:'
    const maxDelay = options.maxReconnectDelayMs ?? 2000
    this.publisher = createClient({
      url: options.url,
      socket: { reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, maxDelay), connectTimeout: 2000 },
      // Publishing while Redis is down drops the message at once (the store has it) instead of
      // queueing it for a reconnect that could replay stale updates much later.
      disableOfflineQueue: true,
    })
    // Subscriptions made while Redis is down wait for it; node-redis renews them on every reconnect.
    this.subscriber = this.publisher.duplicate({ disableOfflineQueue: false })
    for (const client of [this.publisher, this.subscriber]) {
      // Without a listener, node-redis throws connection errors; they are expected while Redis is down.
      client.on('error', () => {})
      client.on('ready', () => this.checkStatus())
      client.on('end', () => this.checkStatus())
      client.on('reconnecting', () => this.checkStatus())
    }
  }

  /**
   * Start connecting and return at once, or once connected if that takes less than `waitMs`: a
   * node starts without Redis (and polls the store) rather than not at all. Only a URL that is no
   * URL throws.
   */
  static async open(options: RedisPubSubOptions, waitMs = 2000): Promise<RedisPubSub> {
    new URL(options.url)
    const relay = new RedisPubSub(options)
    const connecting = Promise.all([relay.publisher.connect(), relay.subscriber.connect()]).then(
      () => relay.checkStatus(),
      (error: unknown) => {
        if (!relay.closed)
          options.log?.warn({ err: error, url: redactUrl(options.url) }, 'relay: cannot connect to Redis')
      },
    )
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([connecting, new Promise((resolve) => (timer = setTimeout(resolve, waitMs)))])
    clearTimeout(timer)
    if (!relay.connected) {
      options.log?.warn(
        { url: redactUrl(options.url) },
        'relay: Redis unreachable, polling the store until it is back',
      )
    }
    return relay
  }

  get connected(): boolean {
    return !this.closed && this.publisher.isReady && this.subscriber.isReady
  }

  /** While Redis is down this waits for it: callers that must not wait (rooms) do not await it. */
  async subscribe(channel: string, handler: (message: Uint8Array) => void): Promise<() => Promise<void>> {
    const name = this.prefix + channel
    const listener = (message: Buffer) =>
      handler(new Uint8Array(message.buffer, message.byteOffset, message.byteLength))
    await this.subscriber.subscribe(name, listener, true)
    return async () => {
      if (this.closed) return
      await this.subscriber.unsubscribe(name, listener, true).catch(() => undefined)
    }
  }

  async publish(channel: string, message: Uint8Array): Promise<boolean> {
    if (!this.connected) return false
    return this.publisher.publish(this.prefix + channel, Buffer.from(message)).then(
      () => true,
      () => false,
    )
  }

  onStatus(listener: (connected: boolean) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.listeners.clear()
    await Promise.all(
      [this.publisher, this.subscriber].map((client) =>
        client.isOpen ? client.close().catch(() => client.destroy()) : undefined,
      ),
    )
  }

  private checkStatus(): void {
    const connected = this.connected
    if (connected === this.wasConnected) return
    this.wasConnected = connected
    this.options.log?.[connected ? 'info' : 'warn'](
      { connected },
      connected ? 'relay connected' : 'relay down: polling the store',
    )
    for (const listener of this.listeners) listener(connected)
  }
}

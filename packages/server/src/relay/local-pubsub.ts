import type { PubSub } from './pubsub.js'

/**
 * The relay within one process: for a single node (nothing to relay to) and for tests that run
 * several nodes in one process. Delivery is asynchronous, as over a network.
 */
export class LocalPubSub implements PubSub {
  private readonly channels = new Map<string, Set<(message: Uint8Array) => void>>()
  private closed = false
  readonly connected = true

  async subscribe(channel: string, handler: (message: Uint8Array) => void): Promise<() => Promise<void>> {
    if (this.closed) throw new Error('the relay is closed')
    const handlers = this.channels.get(channel) ?? new Set()
    this.channels.set(channel, handlers)
    // One entry per subscription, even for the same handler twice.
    const subscription = (message: Uint8Array) => handler(message)
    handlers.add(subscription)
    return async () => {
      handlers.delete(subscription)
      if (handlers.size === 0) this.channels.delete(channel)
    }
  }

  async publish(channel: string, message: Uint8Array): Promise<boolean> {
    if (this.closed) return false
    for (const handler of this.channels.get(channel) ?? []) {
      const copy = message.slice()
      setImmediate(() => handler(copy))
    }
    return true
  }

  onStatus(): () => void {
    return () => {}
  }

  async close(): Promise<void> {
    this.closed = true
    this.channels.clear()
  }
}

import type { PubSub } from './pubsub.js'

/**
 * Several nodes without Redis: nothing is relayed, and every room reads what the others committed
 * by polling the store. Slower (up to the poll interval), never wrong.
 */
export class NoRelay implements PubSub {
  readonly connected = false

  async subscribe(): Promise<() => Promise<void>> {
    return async () => {}
  }

  async publish(): Promise<boolean> {
    return false
  }

  onStatus(): () => void {
    return () => {}
  }

  async close(): Promise<void> {}
}

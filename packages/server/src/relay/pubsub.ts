/**
 * The relay seam between nodes (DESIGN section 10): a channel per conversation that carries what
 * one node committed (and presence) to every other node holding that conversation.
 *
 * Only a relay: the store is the truth. Delivery is best-effort and at-most-once; a node that
 * misses a message notices the gap in entry numbers and reads the store, and while `connected` is
 * false it polls the store instead. Every adapter (local, redis) runs the executable contract in
 * `test/pubsub-contract.ts`.
 */
export interface PubSub {
  /**
   * Deliver every message later published on `channel` (by anyone, this node included) to
   * `handler`. Resolves once the subscription is in place; the returned function ends it.
   */
  subscribe(channel: string, handler: (message: Uint8Array) => void): Promise<() => Promise<void>>
  /**
   * Best effort: resolves true once handed to the relay, false when the relay dropped it (down,
   * or the command failed), so the publisher can tell the others later that it has news.
   */
  publish(channel: string, message: Uint8Array): Promise<boolean>
  /** Whether messages flow now. */
  readonly connected: boolean
  /**
   * Called when `connected` changes: on a reconnect, what was published meanwhile is lost, so
   * subscribers catch up from the store.
   */
  onStatus(listener: (connected: boolean) => void): () => void
  close(): Promise<void>
}

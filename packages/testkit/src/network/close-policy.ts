import { type Conversation, REFUSAL_CLOSE_CODES } from '@ticks/core'

/**
 * What a replica does when the server closes its connection: the policy of `@ticks/client`
 * (connection.ts, live-conversation.ts), so a simulated run shows what a real app would.
 */

/** A close the server gave a replica. */
export interface ServerClose {
  /** Simulated ms. */
  time: number
  code: number
  reason: string
}

/** The server said no for good (auth, membership): retrying cannot help until something changes. */
const TERMINAL_CLOSE_CODES: ReadonlySet<number> = new Set([4401, 4403, 4404])

/** After these the replica stays offline until `reconnect()`, `heal()`, or a discard (below). */
export const stopsReconnecting = (code: number): boolean =>
  TERMINAL_CLOSE_CODES.has(code) || REFUSAL_CLOSE_CODES.has(code)

/** A refusal's unsent messages show `failed`, with the server's reason, until retried or discarded. */
export function failUnsent(conversation: Conversation, code: number, reason: string): void {
  if (REFUSAL_CLOSE_CODES.has(code)) conversation.failUnsent(reason)
}

/**
 * Once every failed message of a refusal is discarded there is nothing left to refuse, so the
 * replica tries once more (a member demoted to observer while offline reconnects to read; a
 * non-member is refused again).
 */
export const retriesOnceDiscarded = (code: number): boolean => REFUSAL_CLOSE_CODES.has(code)

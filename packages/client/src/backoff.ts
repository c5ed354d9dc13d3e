/**
 * Delay before reconnect attempt `attempt` (0-based): exponential, capped, with "equal jitter" —
 * half the delay is fixed, half random. y-websocket's own back-off has no jitter, so every client of
 * a restarted server would come back within the same few milliseconds (DESIGN section 8); the
 * random half spreads them out, the fixed half keeps a client from hammering a server that is down.
 */
export function reconnectDelay(
  attempt: number,
  { baseMs, maxMs }: { baseMs: number; maxMs: number },
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30))
  return ceiling / 2 + random() * (ceiling / 2)
}

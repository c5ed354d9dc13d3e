import type { Fence, Lease } from './store.js'

/**
 * The lease and fence rules of the `Store` contract for the adapters that judge them in
 * JavaScript (memory, SQLite): one place, so they cannot drift apart. PostgreSQL states the
 * same rules in SQL (`postgres-store.ts`), judged by its own clock, and shares `fenceProblem`.
 */

/** The lease `nodeId` gets at `now`, or undefined while another node holds `current`. */
export function grantLease(
  docId: string,
  current: Lease | undefined,
  nodeId: string,
  ttlMs: number,
  now: number,
): Lease | undefined {
  const live = current !== undefined && current.expiresAt > now
  if (live && current.nodeId !== nodeId) return undefined
  // Held and live: extended. Otherwise a new tenure, even for the same node after a lapse.
  const epoch = live ? current.epoch : (current?.epoch ?? 0) + 1
  return { docId, nodeId, epoch, expiresAt: now + ttlMs }
}

/** Whether `nodeId` holds `current` at `epoch` and it has not expired at `now`. */
export function holds(current: Lease | undefined, nodeId: string, epoch: number, now: number): boolean {
  return (
    current !== undefined && current.nodeId === nodeId && current.epoch === epoch && current.expiresAt > now
  )
}

/** A lease as a fence check sees it: its holder, its epoch, and whether it is unexpired now. */
export interface LeaseState {
  nodeId: string
  epoch: number
  live: boolean
}

export const leaseState = (lease: Lease | undefined, now: number): LeaseState | undefined =>
  lease && { nodeId: lease.nodeId, epoch: lease.epoch, live: lease.expiresAt > now }

/** Why an append with `fence` may not commit, given the lease; undefined when it may. */
export function fenceProblem(
  docId: string,
  fence: Fence,
  current: LeaseState | undefined,
): string | undefined {
  const wanted = `${fence.nodeId} at epoch ${fence.epoch}`
  if (!current) return `the sequencer lease of ${docId} was never taken (fence: ${wanted})`
  if (current.nodeId !== fence.nodeId || current.epoch !== fence.epoch)
    return `the sequencer lease of ${docId} is held by ${current.nodeId} at epoch ${current.epoch}, not ${wanted}`
  if (!current.live) return `the sequencer lease of ${docId} (${wanted}) expired`
  return undefined
}

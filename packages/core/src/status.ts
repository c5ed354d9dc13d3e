import type { Watermark } from './schema.js'

/** `failed` is local-only: a write the server refused. It sits outside the lattice. */
export type Status = 'pending' | 'sent' | 'delivered' | 'read' | 'failed'
export type LatticeStatus = Exclude<Status, 'failed'>

const RANK: Record<LatticeStatus, number> = { pending: 0, sent: 1, delivered: 2, read: 3 }
const BY_RANK: LatticeStatus[] = ['pending', 'sent', 'delivered', 'read']

export const statusRank = (status: LatticeStatus): number => RANK[status]

/** The join of the lattice. */
export const maxStatus = (a: LatticeStatus, b: LatticeStatus): LatticeStatus => (RANK[a] >= RANK[b] ? a : b)
export const minStatus = (a: LatticeStatus, b: LatticeStatus): LatticeStatus => (RANK[a] <= RANK[b] ? a : b)

/** The zero watermark: nothing integrated, nothing shown. */
export const NO_WATERMARK: Watermark = Object.freeze({ d: 0, r: 0 })

/** Component-wise max: merging two replicas' knowledge. Keeps `r <= d`. */
export function joinWatermarks(a: Watermark, b: Watermark): Watermark {
  const r = Math.max(a.r, b.r)
  return { d: Math.max(a.d, b.d, r), r }
}

export const dominates = (a: Watermark, b: Watermark): boolean => a.d >= b.d && a.r >= b.r

/**
 * One recipient's status for a message at `seq` (undefined: not yet stamped). Because a watermark
 * covers every seq at or below it, and `d >= r`, `read => delivered => sent` holds by construction.
 */
export function recipientStatus(seq: number | undefined, watermark: Watermark): LatticeStatus {
  if (seq === undefined) return 'pending'
  if (watermark.r >= seq) return 'read'
  if (watermark.d >= seq) return 'delivered'
  return 'sent'
}

/** What the author sees: the weakest status over the message's recipients. */
export function aggregateStatus(seq: number | undefined, recipients: Watermark[]): LatticeStatus {
  if (seq === undefined) return 'pending'
  let status: LatticeStatus = 'read'
  for (const watermark of recipients) {
    status = minStatus(status, recipientStatus(seq, watermark))
    if (status === 'sent') break
  }
  return recipients.length === 0 ? 'sent' : status
}

export const statusFromRank = (rank: number): LatticeStatus => BY_RANK[rank] ?? 'pending'

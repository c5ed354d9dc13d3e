import { type Status, SYSTEM_AUTHOR } from '@ticks/core'

/** Display name for a user id; the app has no profiles, so ids are names unless a host says otherwise. */
export type NameOf = (userId: string) => string

/** A user's name is their id; the server's announcements (author `:system`) are announcements. */
export const defaultNameOf: NameOf = (userId) => (userId === SYSTEM_AUTHOR ? 'Announcement' : userId)

/** Times this device first saw each status of a message (epoch ms); see status-times.ts. */
export type StatusTimes = Partial<Record<Status, number>>

function listNames(names: string[]): string {
  if (names.length <= 1) return names[0] ?? ''
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`
}

const atLeast = (status: Status, level: 'delivered' | 'read'): boolean =>
  level === 'read' ? status === 'read' : status === 'read' || status === 'delivered'

/** Recipients that reached at least `level`, in a stable order. */
export function recipientsAt(receipts: Record<string, Status>, level: 'delivered' | 'read'): string[] {
  return Object.keys(receipts)
    .filter((user) => atLeast(receipts[user]!, level))
    .sort()
}

/**
 * The text alternative for a message's ticks, the words a screen reader says instead of the icon:
 * "Read by Bob", "Delivered to 2 of 4, read by 1", "Not sent: too large".
 */
export function statusLabel(
  status: Status,
  receipts: Record<string, Status>,
  nameOf: NameOf = defaultNameOf,
  failureReason?: string,
): string {
  const recipients = Object.keys(receipts)
  const total = recipients.length
  const group = total > 1
  switch (status) {
    case 'failed':
      return failureReason ? `Not sent: ${failureReason}` : 'Not sent'
    case 'pending':
      return 'Waiting to send'
    case 'sent': {
      const read = recipientsAt(receipts, 'read').length
      const delivered = recipientsAt(receipts, 'delivered').length
      if (!group || delivered === 0) return 'Sent'
      return read > 0
        ? `Sent, delivered to ${delivered} of ${total}, read by ${read} of ${total}`
        : `Sent, delivered to ${delivered} of ${total}`
    }
    case 'delivered': {
      if (!group) return `Delivered to ${listNames(recipients.map(nameOf))}`
      const read = recipientsAt(receipts, 'read').length
      return read > 0 ? `Delivered to all ${total}, read by ${read} of ${total}` : `Delivered to all ${total}`
    }
    case 'read':
      if (!group) return `Read by ${listNames(recipients.map(nameOf))}`
      return `Read by all ${total}: ${listNames(recipients.map(nameOf))}`
  }
}

/** The short visible summary a group bubble shows beside its ticks ("read by 3 of 5"), if any. */
export function groupSummary(status: Status, receipts: Record<string, Status>): string | undefined {
  const total = Object.keys(receipts).length
  if (total <= 1 || status === 'pending' || status === 'failed') return undefined
  const read = recipientsAt(receipts, 'read').length
  if (read === total) return 'read by everyone'
  if (read > 0) return `read by ${read} of ${total}`
  const delivered = recipientsAt(receipts, 'delivered').length
  return delivered > 0 ? `delivered to ${delivered} of ${total}` : undefined
}

// One formatter each, made on first use: `toLocaleTimeString` builds a new one per call, which cost
// ~130 ms of a long chat's first screen (profiled in Chromium: every bubble formats its time twice).
let timeFormat: Intl.DateTimeFormat | undefined
let timeWithSecondsFormat: Intl.DateTimeFormat | undefined

export function formatTime(epochMs: number): string {
  timeFormat ??= new Intl.DateTimeFormat([], { hour: '2-digit', minute: '2-digit' })
  return timeFormat.format(epochMs)
}

function formatTimeWithSeconds(epochMs: number): string {
  timeWithSecondsFormat ??= new Intl.DateTimeFormat([], {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  })
  return timeWithSecondsFormat.format(epochMs)
}

/** Lines of the ticks tooltip: when it was written/sent/delivered/read, and who is where in a group. */
export function tooltipLines(
  status: Status,
  receipts: Record<string, Status>,
  times: StatusTimes,
  createdAt: number,
  nameOf: NameOf = defaultNameOf,
): string[] {
  const lines = [`Written ${formatTimeWithSeconds(createdAt)}`]
  const steps: Array<['sent' | 'delivered' | 'read', string]> = [
    ['sent', 'Sent'],
    ['delivered', 'Delivered'],
    ['read', 'Read'],
  ]
  const rank = { pending: 0, failed: 0, sent: 1, delivered: 2, read: 3 }[status]
  steps.forEach(([step, word], i) => {
    if (rank < i + 1) return
    const at = times[step]
    lines.push(at === undefined ? word : `${word} ${formatTimeWithSeconds(at)}`)
  })
  if (Object.keys(receipts).length > 1) {
    const read = recipientsAt(receipts, 'read')
    const delivered = recipientsAt(receipts, 'delivered').filter((user) => receipts[user] !== 'read')
    if (read.length > 0) lines.push(`Read by ${listNames(read.map(nameOf))}`)
    if (delivered.length > 0) lines.push(`Delivered to ${listNames(delivered.map(nameOf))}`)
    const waiting = Object.keys(receipts).filter(
      (user) => receipts[user] === 'sent' || receipts[user] === 'pending',
    )
    if (waiting.length > 0) lines.push(`Not yet delivered to ${listNames(waiting.sort().map(nameOf))}`)
  }
  return lines
}

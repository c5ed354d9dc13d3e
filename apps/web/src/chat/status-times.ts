import type { Status } from '@ticks/core'
import type { StatusTimes } from './status-text.js'

const MAX_MESSAGES = 500

/**
 * When this device first saw each status of each own message, for the ticks tooltip. The document
 * keeps no times for receipts (a watermark is one number per user, DESIGN section 3), so these are
 * observed times, kept in localStorage per conversation and capped so they never grow without bound.
 */
export class StatusClock {
  private readonly key: string
  private readonly times: Map<string, StatusTimes>
  private saveTimer: ReturnType<typeof setTimeout> | undefined

  constructor(
    conversationId: string,
    private readonly now: () => number = Date.now,
  ) {
    this.key = `ticks.status-times.${conversationId}`
    this.times = new Map(load(this.key))
  }

  /** Record `status` for the message if it is new, and return every time known for it. */
  observe(messageId: string, status: Status): StatusTimes {
    const known = this.times.get(messageId) ?? {}
    if (status === 'pending' || known[status] !== undefined) return known
    const next = { ...known, [status]: this.now() }
    this.times.delete(messageId)
    this.times.set(messageId, next)
    while (this.times.size > MAX_MESSAGES) this.times.delete(this.times.keys().next().value!)
    this.scheduleSave()
    return next
  }

  dispose(): void {
    if (this.saveTimer !== undefined) {
      clearTimeout(this.saveTimer)
      this.save()
    }
  }

  private scheduleSave(): void {
    if (this.saveTimer !== undefined) return
    this.saveTimer = setTimeout(() => this.save(), 500)
  }

  private save(): void {
    this.saveTimer = undefined
    try {
      localStorage.setItem(this.key, JSON.stringify([...this.times]))
    } catch {
      // Storage full or unavailable: the tooltip falls back to showing statuses without times.
    }
  }
}

function load(key: string): Array<[string, StatusTimes]> {
  try {
    const raw = typeof localStorage === 'undefined' ? null : localStorage.getItem(key)
    return raw ? (JSON.parse(raw) as Array<[string, StatusTimes]>) : []
  } catch {
    return []
  }
}

/**
 * Simulated time for the network: a queue of events ordered by time, then by the order they were
 * scheduled. Nothing here reads the real clock, so a run is a pure function of its seed and the
 * operations the test performs.
 */
import { TicksError } from '@ticks/core'

export interface ScheduledEvent {
  at: number
  order: number
  label: string
  run: () => void | Promise<void>
}

export class Scheduler {
  /** Simulated milliseconds since the network was created. */
  now = 0
  private readonly queue: ScheduledEvent[] = []
  private nextOrder = 0
  eventsRun = 0

  get pending(): number {
    return this.queue.length
  }

  after(delayMs: number, label: string, run: ScheduledEvent['run']): void {
    this.at(this.now + Math.max(0, delayMs), label, run)
  }

  at(at: number, label: string, run: ScheduledEvent['run']): void {
    // NaN sorts nowhere and Infinity never comes: either would stall every later event.
    if (!Number.isFinite(at))
      throw new TicksError('invalid-argument', `${label}: cannot schedule at t=${at}ms`)
    const event: ScheduledEvent = { at: Math.max(at, this.now), order: this.nextOrder++, label, run }
    // Binary search for the insertion point keeps the queue sorted by (at, order).
    let low = 0
    let high = this.queue.length
    while (low < high) {
      const middle = (low + high) >>> 1
      const other = this.queue[middle]!
      if (other.at < event.at || (other.at === event.at && other.order < event.order)) low = middle + 1
      else high = middle
    }
    this.queue.splice(low, 0, event)
  }

  /** Run the next event; false when there is none. */
  async runNext(): Promise<boolean> {
    const event = this.queue.shift()
    if (!event) return false
    this.now = event.at
    this.eventsRun++
    await event.run()
    return true
  }

  /** Run every event due up to `time`, then move the clock there. */
  async runUntil(time: number, maxEvents = 1_000_000): Promise<void> {
    // A NaN clock would compare false with every event and never move again.
    if (!Number.isFinite(time)) throw new TicksError('invalid-argument', `cannot run until t=${time}ms`)
    let budget = maxEvents
    while (this.queue.length > 0 && this.queue[0]!.at <= time) {
      if (budget-- <= 0) throw new Error(`more than ${maxEvents} events before t=${time}ms: a feedback loop?`)
      await this.runNext()
    }
    this.now = Math.max(this.now, time)
  }

  /** Run until nothing is scheduled. */
  async runUntilIdle(maxEvents = 1_000_000): Promise<void> {
    let budget = maxEvents
    while (await this.runNext()) {
      if (--budget <= 0) throw new Error(`more than ${maxEvents} events without going idle: a feedback loop?`)
    }
  }
}

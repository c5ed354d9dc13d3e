import { TicksError } from '@ticks/core'
import type { Random } from '../random.js'
import { requireMs, requireProbability } from '../validation.js'
import type { Scheduler } from './scheduler.js'

/**
 * What a link does to the frames it carries. Probabilities are per frame; `delay` is a fixed
 * one-way delay or a `[min, max]` range in simulated ms.
 */
export interface Faults {
  /** Lose the frame. Repaired by a resync (the replica reconnects), as a real client would. */
  drop: number
  /** Deliver the frame twice (the second copy later). */
  duplicate: number
  /** Let the frame overtake, or be overtaken by, its neighbours. */
  reorder: number
  delay: number | readonly [number, number]
}

export const NO_FAULTS: Faults = Object.freeze({ drop: 0, duplicate: 0, reorder: 0, delay: [1, 5] as const })

const PROBABILITIES = ['drop', 'duplicate', 'reorder'] as const

/**
 * Refuses what would silently misbehave (a typo'd key, a probability of 5, a delay of [50, 1]) and
 * leaves out keys given as undefined, so spreading the result never unsets a fault.
 */
export function checkFaults(faults: Partial<Faults>, where: string): Partial<Faults> {
  if (typeof faults !== 'object' || faults === null) {
    throw new TicksError('invalid-argument', `${where}: faults must be an object`)
  }
  const checked: Partial<Record<keyof Faults, unknown>> = {}
  for (const [key, value] of Object.entries(faults)) {
    if (value === undefined) continue
    if ((PROBABILITIES as readonly string[]).includes(key)) requireProbability(value, `${where}: ${key}`)
    else if (key === 'delay') checkDelay(value, `${where}: delay`)
    else throw new TicksError('invalid-argument', `${where}: unknown fault ${JSON.stringify(key)}`)
    checked[key as keyof Faults] = value
  }
  return checked as Partial<Faults>
}

function checkDelay(delay: unknown, where: string): void {
  if (!Array.isArray(delay)) {
    requireMs(delay, where)
    return
  }
  const [min, max] = delay
  if (delay.length !== 2 || requireMs(min, `${where}[0]`) > requireMs(max, `${where}[1]`)) {
    throw new TicksError(
      'invalid-argument',
      `${where} must be [min, max] with min <= max (got ${JSON.stringify(delay)})`,
    )
  }
}

export interface LinkStats {
  framesSent: number
  framesDropped: number
  framesDuplicated: number
  framesReordered: number
}

export const emptyLinkStats = (): LinkStats => ({
  framesSent: 0,
  framesDropped: 0,
  framesDuplicated: 0,
  framesReordered: 0,
})

/**
 * One direction of one connection. Frames arrive in order unless `reorder` says otherwise; once
 * the link is closed, nothing still in flight is delivered (a connection's frames die with it).
 */
export class Link {
  private lastArrival = 0
  private closed = false

  constructor(
    private readonly scheduler: Scheduler,
    private readonly random: Random,
    private readonly label: string,
    private readonly faults: () => Faults,
    private readonly stats: LinkStats,
    private readonly deliver: (frame: Uint8Array) => void,
  ) {}

  get isClosed(): boolean {
    return this.closed
  }

  close(): void {
    this.closed = true
  }

  send(frame: Uint8Array): void {
    if (this.closed) return
    const faults = this.faults()
    this.stats.framesSent++
    if (this.random.chance(faults.drop)) {
      this.stats.framesDropped++
      return
    }
    this.schedule(frame, faults)
    if (this.random.chance(faults.duplicate)) {
      this.stats.framesDuplicated++
      this.schedule(frame, faults)
    }
  }

  /** A frame that must arrive after everything sent before it and is never lost (a close). */
  sendReliably(run: () => void): void {
    if (this.closed) return
    const at = Math.max(this.lastArrival, this.scheduler.now + this.sampleDelay(this.faults()))
    this.lastArrival = at
    this.scheduler.at(at, `${this.label} close`, run)
  }

  private schedule(frame: Uint8Array, faults: Faults): void {
    const delay = this.sampleDelay(faults)
    let at: number
    if (this.random.chance(faults.reorder)) {
      this.stats.framesReordered++
      // Ignore the in-order constraint, and wander up to twice the usual delay either way.
      at = this.scheduler.now + this.random.int(0, 2 * delay + 2)
    } else {
      at = Math.max(this.lastArrival, this.scheduler.now + delay)
      this.lastArrival = at
    }
    this.scheduler.at(at, this.label, () => {
      if (!this.closed) this.deliver(frame)
    })
  }

  private sampleDelay(faults: Faults): number {
    const { delay } = faults
    if (typeof delay === 'number') return delay
    return this.random.int(delay[0], delay[1])
  }
}

import type { Mutant } from './mutate.js'

/**
 * What the campaign saw that no input may cause, one entry per behaviour, each with the smallest
 * frame that showed it (the one worth replaying) and how often it was seen.
 */
export interface Finding {
  behaviour: string
  label: string
  frameHex: string
  frameBytes: number
  count: number
}

export interface Findings {
  record(behaviour: string, mutant: Mutant): void
  list(): Finding[]
  readonly size: number
}

/** Enough to show every distinct failure; a broken room repeating one forever stays one entry. */
const MAX_DISTINCT = 100
/** A 1 MiB frame does not belong in a report; its length and its start do. */
const MAX_HEX_BYTES = 2048

export function createFindings(onNew: (line: string) => void = () => {}): Findings {
  const byBehaviour = new Map<string, Finding>()
  return {
    record(behaviour, mutant) {
      const known = byBehaviour.get(behaviour)
      if (!known && byBehaviour.size >= MAX_DISTINCT) return
      if (!known) onNew(`finding: ${behaviour} (${mutant.label})`)
      if (known && mutant.frame.length >= known.frameBytes) {
        known.count++
        return
      }
      byBehaviour.set(behaviour, {
        behaviour,
        label: mutant.label,
        frameHex: hexOf(mutant.frame),
        frameBytes: mutant.frame.length,
        count: (known?.count ?? 0) + 1,
      })
    },
    list: () => [...byBehaviour.values()],
    get size() {
      return byBehaviour.size
    },
  }
}

function hexOf(frame: Uint8Array): string {
  const hex = Buffer.from(frame.subarray(0, MAX_HEX_BYTES)).toString('hex')
  return frame.length > MAX_HEX_BYTES ? `${hex}… (${frame.length} bytes)` : hex
}

/** An inclusive range of seqs. */
export interface SeqRange {
  from: number
  to: number
}

/** `ranges` with `range` added: sorted, and overlapping or adjacent ranges merged into one. */
export function addRange(ranges: readonly SeqRange[], range: SeqRange): SeqRange[] {
  if (range.from > range.to) return [...ranges]
  const merged: SeqRange[] = []
  let current = { ...range }
  for (const existing of ranges) {
    if (existing.to + 1 < current.from || current.to + 1 < existing.from) merged.push(existing)
    else current = { from: Math.min(existing.from, current.from), to: Math.max(existing.to, current.to) }
  }
  merged.push(current)
  return merged.sort((a, b) => a.from - b.from)
}

/** Whether every seq in [from, to] lies in `ranges` (an empty interval always does). */
export function covers(ranges: readonly SeqRange[], from: number, to: number): boolean {
  if (from > to) return true
  return ranges.some((range) => range.from <= from && to <= range.to)
}

/** The lowest seq such that every seq from it up to `seq` lies in `ranges` (`seq + 1` if `seq` does not). */
export function lowestCovered(ranges: readonly SeqRange[], seq: number): number {
  const range = ranges.find((candidate) => candidate.from <= seq && seq <= candidate.to)
  return range ? range.from : seq + 1
}

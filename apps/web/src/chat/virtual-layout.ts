/**
 * The arithmetic of a virtualized list of rows of varying height: where each row starts, and which
 * rows a band of pixels covers. Rows not measured yet count at an estimate; the list corrects its
 * scroll position as real heights arrive (see virtual-list.tsx).
 */

/** `offsets[i]` is where row i starts; `offsets[n]` is the total height. */
export function rowOffsets(
  keys: readonly string[],
  heightOf: (key: string) => number | undefined,
  estimate: number,
): number[] {
  const offsets = new Array<number>(keys.length + 1)
  offsets[0] = 0
  for (let i = 0; i < keys.length; i++) offsets[i + 1] = offsets[i]! + (heightOf(keys[i]!) ?? estimate)
  return offsets
}

/** The row at pixel `y` (clamped to the rows there are; 0 for none). */
export function rowAt(offsets: readonly number[], y: number): number {
  const count = offsets.length - 1
  if (count <= 0) return 0
  let low = 0
  let high = count - 1
  while (low < high) {
    const middle = (low + high + 1) >> 1
    if (offsets[middle]! <= y) low = middle
    else high = middle - 1
  }
  return low
}

/** Rows [start, end) that overlap the band [top, bottom). */
export function rowsBetween(
  offsets: readonly number[],
  top: number,
  bottom: number,
): { start: number; end: number } {
  const count = offsets.length - 1
  if (count <= 0) return { start: 0, end: 0 }
  const start = rowAt(offsets, Math.max(0, top))
  const end = Math.min(count, rowAt(offsets, Math.max(0, bottom)) + 1)
  return { start, end: Math.max(start, end) }
}

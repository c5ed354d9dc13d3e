const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' })

/**
 * The first character of a name as a reader sees it, for an avatar: a whole grapheme, so an emoji
 * (two UTF-16 units, or several joined ones) is never cut in half into "�".
 */
export function initialOf(name: string, fallback = '?'): string {
  const first = graphemes.segment(name.trim())[Symbol.iterator]().next()
  return first.done ? fallback : first.value.segment.toUpperCase()
}

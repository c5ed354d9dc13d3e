/** A run of a message's text: plain, or an `@<userId>` that names a mentioned member. */
export interface TextPart {
  text: string
  /** The user this run mentions. */
  mention?: string
}

/** Where an `@` starts a mention: not inside a word or an address (core's `mentionsIn` rule). */
const MENTION = /(?<![A-Za-z0-9._~@-])@([A-Za-z0-9._~@-]+)/g
/** Characters a user id may end in that also end sentences: "@bob." names bob. */
const TRAILING = /[.~@-]$/

/**
 * Split a text into plain runs and the `@<userId>` runs that name one of `mentioned` (the members
 * the message recorded), so a bubble highlights exactly what notified someone.
 */
export function splitMentions(text: string, mentioned: readonly string[]): TextPart[] {
  if (mentioned.length === 0 || !text.includes('@')) return [{ text }]
  const wanted = new Set(mentioned)
  const parts: TextPart[] = []
  let plainFrom = 0
  for (const match of text.matchAll(MENTION)) {
    let candidate = match[1]!
    while (candidate.length > 0 && !wanted.has(candidate) && TRAILING.test(candidate)) {
      candidate = candidate.slice(0, -1)
    }
    if (!wanted.has(candidate)) continue
    const start = match.index!
    if (start > plainFrom) parts.push({ text: text.slice(plainFrom, start) })
    parts.push({ text: `@${candidate}`, mention: candidate })
    plainFrom = start + 1 + candidate.length
  }
  if (plainFrom < text.length) parts.push({ text: text.slice(plainFrom) })
  return parts
}

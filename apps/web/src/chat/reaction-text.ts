import type { NameOf } from './status-text.js'

/** The emoji the picker offers: the few every messenger puts first. */
export const QUICK_REACTIONS = ['👍', '❤️', '😂', '😮', '😢', '🙏'] as const

/** "You", "You and alice", "alice and bob": who reacted, the reader first. */
export function reactorNames(users: readonly string[], userId: string, nameOf: NameOf): string {
  const names = users.filter((user) => user !== userId).map(nameOf)
  if (users.includes(userId)) names.unshift('You')
  if (names.length <= 1) return names[0] ?? ''
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`
}

/** A reaction chip's text alternative: "👍 2: You and alice". */
export function reactionLabel(
  emoji: string,
  users: readonly string[],
  userId: string,
  nameOf: NameOf,
): string {
  return `${emoji} ${users.length}: ${reactorNames(users, userId, nameOf)}`
}

/** At most `length` characters of a text on one line, for a quote: "Lunch at one? We could…". */
export function shortQuote(text: string, length = 120): string {
  const line = text.replace(/\s+/g, ' ').trim()
  if (line.length <= length) return line
  return `${[...line].slice(0, length).join('').trimEnd()}…`
}

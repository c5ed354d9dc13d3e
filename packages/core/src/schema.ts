/**
 * Where things live in a conversation's Y.Doc (DESIGN section 2).
 *
 * Everything a user writes sits under a root only that user writes (`u:<userId>`), so authorship is
 * *where* an entry is, not a field anyone could forge; the server authorises an update by the roots
 * its structs touch.
 */

export const USER_ROOT_PREFIX = 'u:'
/** Owners only: title and members. */
export const META_ROOT = 'meta'
/** Server only: the order log, message ids in the order the server durably persisted them. */
export const SERVER_ROOT = 'server'
/**
 * Server only: announcements (issue 16), `m|<id>` message records an admin posted through the
 * server. Sequenced and receipted like any message; no member can write, change or forge one.
 */
export const SYSTEM_ROOT = 'system'
/** The author of announcements: not a valid user id (no `:` in ids), so no user can be it. */
export const SYSTEM_AUTHOR = ':system'

export const MESSAGE_KEY_PREFIX = 'm|'
export const RECEIPT_KEY_PREFIX = 'r|'
export const MEMBER_KEY_PREFIX = 'member|'
/** Message actions (issue 17), each in the acting user's own root; see `actions.ts`. */
export const EDIT_KEY_PREFIX = 'e|'
export const DELETION_KEY_PREFIX = 'd|'
export const REACTION_KEY_PREFIX = 'x|'
export const TITLE_KEY = 'title'

export type Role = 'owner' | 'member' | 'observer'
export const ROLES: readonly Role[] = ['owner', 'member', 'observer']

/** A message as stored under `u:<author>` at key `m|<id>`. Immutable once written. */
export interface MessageRecord {
  id: string
  text: string
  createdAt: number
  /** The other writing members when it was sent: group receipts aggregate over these. */
  to: string[]
  /** The message this one answers (issue 17): set at send, never its text (resolved when shown). */
  replyTo?: { id: string; author: string }
  /** Members named as `@<userId>` in the text, unique and sorted (derived at send). */
  mentions?: string[]
}

/**
 * The author's latest edit of a message, at `e|<messageId>` in the author's root (issue 17).
 * A plain object, so a signature (issue 16) may later be added beside the text.
 */
export interface EditRecord {
  text: string
  editedAt: number
}

/**
 * A deletion for everyone, at `d|<messageId>` in the author's root: permanent, written in the same
 * transaction that deletes the author's `m|` and `e|` entries. It keeps what the tombstone still
 * shows: its place (`createdAt` orders it while unsequenced) and its recipients (its status).
 */
export interface DeletionRecord {
  deletedAt: number
  createdAt: number
  to: string[]
}

/**
 * One replica's receipt watermarks, stored under `u:<user>` at `r|<replicaId>`: "this replica has
 * integrated (d) / shown (r) every message with seq <= n". Only ever raised, and r <= d.
 */
export interface Watermark {
  d: number
  r: number
}

export interface MemberRecord {
  role: Role
  joinedAt: number
}

export interface Limits {
  /** Longest message text, in UTF-8 bytes. */
  maxTextBytes: number
  /** Longest conversation title, in characters. */
  maxTitleLength: number
  /** Most recipients one message may name. */
  maxRecipients: number
  /** Longest id (message, user, replica). */
  maxIdLength: number
  /** Most distinct emoji one user may keep on one message. */
  maxReactionsPerMessage: number
  /** Longest reaction emoji, in UTF-8 bytes. */
  maxEmojiBytes: number
  /** Most members one message may mention. */
  maxMentions: number
  /** Most edits one user may make per minute (core counts per replica; the server per room). */
  maxEditsPerMinute: number
}

export const DEFAULT_LIMITS: Limits = {
  maxTextBytes: 16 * 1024,
  maxTitleLength: 200,
  maxRecipients: 1000,
  maxIdLength: 128,
  maxReactionsPerMessage: 8,
  maxEmojiBytes: 32,
  maxMentions: 50,
  maxEditsPerMinute: 20,
}

export const userRoot = (userId: string): string => USER_ROOT_PREFIX + userId
export const messageKey = (messageId: string): string => MESSAGE_KEY_PREFIX + messageId
export const receiptKey = (replicaId: string): string => RECEIPT_KEY_PREFIX + replicaId
export const memberKey = (userId: string): string => MEMBER_KEY_PREFIX + userId
export const editKey = (messageId: string): string => EDIT_KEY_PREFIX + messageId
export const deletionKey = (messageId: string): string => DELETION_KEY_PREFIX + messageId
/** One key per (message, emoji): ids hold no `|`, so the first `|` after the prefix ends the id. */
export const reactionKey = (messageId: string, emoji: string): string =>
  `${REACTION_KEY_PREFIX}${messageId}|${emoji}`

/** The message id and emoji of a reaction key, or undefined when it is not one. */
export function parseReactionKey(key: string): { messageId: string; emoji: string } | undefined {
  if (!key.startsWith(REACTION_KEY_PREFIX)) return undefined
  const bar = key.indexOf('|', REACTION_KEY_PREFIX.length)
  if (bar < 0) return undefined
  return { messageId: key.slice(REACTION_KEY_PREFIX.length, bar), emoji: key.slice(bar + 1) }
}

/**
 * A message's recipients (`to`): the writing members other than its author (none excluded for an
 * announcement). Observers write no receipts, so counting them would keep `read` out of reach.
 */
export function recipientsOf(members: ReadonlyMap<string, { role: Role }>, author?: string): string[] {
  const to: string[] = []
  for (const [user, member] of members) if (user !== author && member.role !== 'observer') to.push(user)
  return to.sort()
}

/** The root a message of `author` lives in. */
export const rootOfAuthor = (author: string): string =>
  author === SYSTEM_AUTHOR ? SYSTEM_ROOT : userRoot(author)

/** Whether a root holds messages: a user's, or the server's announcements. */
export const holdsMessages = (root: string): boolean =>
  root.startsWith(USER_ROOT_PREFIX) || root === SYSTEM_ROOT

/** The user a root belongs to, or undefined when it is not a user root. */
export const userOfRoot = (root: string): string | undefined =>
  root.startsWith(USER_ROOT_PREFIX) ? root.slice(USER_ROOT_PREFIX.length) : undefined

const textEncoder = new TextEncoder()
export const utf8Length = (text: string): number => textEncoder.encode(text).length

const isString = (v: unknown): v is string => typeof v === 'string'
const isNonNegativeInteger = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0
const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

/** Why a message record is malformed, or undefined when it is well formed. */
export function messageRecordProblem(
  value: unknown,
  expectedId: string,
  limits: Limits = DEFAULT_LIMITS,
): string | undefined {
  if (!isPlainObject(value)) return 'message is not an object'
  const { id, text, createdAt, to } = value
  if (id !== expectedId) return 'message id does not match its key'
  if (!isString(text) || text.length === 0) return 'message text is empty'
  // A UTF-16 unit is at most 3 UTF-8 bytes: skip the encode for the common short message.
  if (text.length * 3 > limits.maxTextBytes && utf8Length(text) > limits.maxTextBytes) {
    return `message text exceeds ${limits.maxTextBytes} bytes`
  }
  if (typeof createdAt !== 'number' || !Number.isFinite(createdAt)) return 'message createdAt is not a number'
  if (!Array.isArray(to) || !to.every(isString)) return 'message to is not a list of user ids'
  if (to.length > limits.maxRecipients) return 'message names too many recipients'
  const { replyTo, mentions } = value
  if (replyTo !== undefined) {
    if (!isPlainObject(replyTo) || !isString(replyTo.id) || !isString(replyTo.author))
      return 'message replyTo is not { id, author }'
    if (!isValidId(replyTo.id, limits) || replyTo.id === id)
      return 'message replyTo names an invalid message id'
  }
  if (mentions !== undefined) {
    if (!Array.isArray(mentions) || !mentions.every((user) => isString(user) && isValidId(user, limits)))
      return 'message mentions is not a list of user ids'
    if (mentions.length > limits.maxMentions) return 'message mentions too many members'
    for (let i = 1; i < mentions.length; i++)
      if (mentions[i - 1]! >= mentions[i]!) return 'message mentions are not unique and sorted'
  }
  return undefined
}

/** Why an edit record is malformed (`too-large` problems say "exceeds"), or undefined. */
export function editRecordProblem(value: unknown, limits: Limits = DEFAULT_LIMITS): string | undefined {
  if (!isPlainObject(value)) return 'an edit is not an object'
  const { text, editedAt } = value
  if (!isString(text) || text.trim().length === 0) return 'edit text is empty'
  if (text.length * 3 > limits.maxTextBytes && utf8Length(text) > limits.maxTextBytes) {
    return `edit text exceeds ${limits.maxTextBytes} bytes`
  }
  if (typeof editedAt !== 'number' || !Number.isFinite(editedAt)) return 'edit editedAt is not a number'
  return undefined
}

/** Why a deletion marker is malformed, or undefined. */
export function deletionRecordProblem(value: unknown, limits: Limits = DEFAULT_LIMITS): string | undefined {
  if (!isPlainObject(value)) return 'a deletion is not an object'
  const { deletedAt, createdAt, to } = value
  if (typeof deletedAt !== 'number' || !Number.isFinite(deletedAt))
    return 'deletion deletedAt is not a number'
  if (typeof createdAt !== 'number' || !Number.isFinite(createdAt))
    return 'deletion createdAt is not a number'
  if (!Array.isArray(to) || !to.every(isString)) return 'deletion to is not a list of user ids'
  if (to.length > limits.maxRecipients) return 'deletion names too many recipients'
  return undefined
}

/** Why a reaction emoji is not acceptable: empty, too long, or holding whitespace. */
export function emojiProblem(emoji: unknown, limits: Limits = DEFAULT_LIMITS): string | undefined {
  if (!isString(emoji) || emoji.length === 0) return 'a reaction is an emoji'
  if (utf8Length(emoji) > limits.maxEmojiBytes)
    return `a reaction emoji exceeds ${limits.maxEmojiBytes} bytes`
  if (/\s/u.test(emoji)) return 'a reaction emoji holds no whitespace'
  return undefined
}

/**
 * Whether a value is plain JSON: what Ticks entries hold. Yjs's binary encoding also carries
 * undefined, bigint, byte arrays and non-finite numbers, which JSON (REST, summaries, the app)
 * cannot, and a hostile writer could nest a value deep enough to overflow a reader's stack.
 */
export function isJsonValue(value: unknown, depth = 0): boolean {
  if (depth > MAX_JSON_DEPTH) return false
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true
    case 'number':
      return Number.isFinite(value)
    case 'object':
      if (value === null) return true
      if (Array.isArray(value)) return value.every((item) => isJsonValue(item, depth + 1))
      if (Object.getPrototypeOf(value) !== Object.prototype) return false
      return Object.values(value).every((item) => isJsonValue(item, depth + 1))
    default:
      return false
  }
}

const MAX_JSON_DEPTH = 16

export function isWatermark(value: unknown): value is Watermark {
  return (
    isPlainObject(value) &&
    isNonNegativeInteger(value.d) &&
    isNonNegativeInteger(value.r) &&
    value.r <= value.d
  )
}

export function isMemberRecord(value: unknown): value is MemberRecord {
  return (
    isPlainObject(value) &&
    ROLES.includes(value.role as Role) &&
    typeof value.joinedAt === 'number' &&
    Number.isFinite(value.joinedAt)
  )
}

/**
 * Ids become object keys (REST bodies, summaries, receipts maps), where `__proto__` would set a
 * prototype instead of a key: that one is refused.
 */
export const isValidId = (id: string, limits: Limits = DEFAULT_LIMITS): boolean =>
  id.length > 0 && id.length <= limits.maxIdLength && /^[A-Za-z0-9._~@-]+$/.test(id) && id !== '__proto__'

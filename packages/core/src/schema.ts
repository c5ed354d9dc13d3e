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
}

export const DEFAULT_LIMITS: Limits = {
  maxTextBytes: 16 * 1024,
  maxTitleLength: 200,
  maxRecipients: 1000,
  maxIdLength: 128,
}

export const userRoot = (userId: string): string => USER_ROOT_PREFIX + userId
export const messageKey = (messageId: string): string => MESSAGE_KEY_PREFIX + messageId
export const receiptKey = (replicaId: string): string => RECEIPT_KEY_PREFIX + replicaId
export const memberKey = (userId: string): string => MEMBER_KEY_PREFIX + userId

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

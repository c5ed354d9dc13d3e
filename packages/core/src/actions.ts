import type { ConversationIndex, IndexedMessage } from './conversation-index.js'
import { TicksError } from './errors.js'
import {
  type DeletionRecord,
  deletionKey,
  type EditRecord,
  editKey,
  emojiProblem,
  isValidId,
  type Limits,
  messageKey,
  reactionKey,
  rootOfAuthor,
  userRoot,
  utf8Length,
} from './schema.js'
import { editSignatureKey, signatureKey } from './signature-records.js'

/**
 * Message actions (issue 17) as writes to the acting user's own root, each checked here first
 * with the same rules the server applies (`rules.ts`), so a refusal is a clear `TicksError`, not a
 * closed socket. Shared by `Conversation` and the server's REST routes (which act for a user).
 */
export interface ActionContext {
  index: ConversationIndex
  userId: string
  limits: Limits
  now: () => number
  /** Transaction origin of the writes. */
  origin?: unknown
  /**
   * The target when it is sealed and the index does not hold it (a server's room keeps no
   * history): the host looked it up in its store.
   */
  sealed?: IndexedMessage
}

/** Add a reaction; false when the user already has it. */
export function addReaction(context: ActionContext, messageId: string, emoji: string): boolean {
  const problem = emojiProblem(emoji, context.limits)
  if (problem) throw new TicksError('invalid-argument', problem)
  const target = liveTarget(context, messageId)
  const mine = context.index.actions.reactionsBy(context.userId, target.record.id)
  if (mine.includes(emoji)) return false
  if (mine.length >= context.limits.maxReactionsPerMessage) {
    throw new TicksError(
      'too-many-reactions',
      `At most ${context.limits.maxReactionsPerMessage} reactions per message`,
    )
  }
  write(context, (root) => root.set(reactionKey(messageId, emoji), true))
  return true
}

/** Remove one's own reaction; false when there was none. */
export function removeReaction(context: ActionContext, messageId: string, emoji: string): boolean {
  if (!context.index.actions.reactionsBy(context.userId, messageId).includes(emoji)) return false
  write(context, (root) => root.delete(reactionKey(messageId, emoji)))
  return true
}

/** Replace the text of one's own message; seq, order and status stay. */
export function editMessage(context: ActionContext, messageId: string, text: string): EditRecord {
  checkText(text, context.limits)
  const target = ownTarget(context, messageId)
  const edit: EditRecord = { text, editedAt: context.now() }
  // Nothing to write when the text is what it shows already.
  const current = context.index.actions.editOf(context.userId, messageId)?.text ?? target.record.text
  if (current === text) return context.index.actions.editOf(context.userId, messageId) ?? edit
  write(context, (root) => root.set(editKey(messageId), edit))
  return edit
}

/**
 * Delete one's own message for everyone: a permanent marker, and in the same transaction the
 * message's entry, its edit and their signatures leave the document (the text is gone, not hidden). Seq, place and
 * status stay; the marker keeps what the tombstone shows.
 */
export function deleteForEveryone(context: ActionContext, messageId: string): DeletionRecord {
  const target = ownTarget(context, messageId)
  const marker: DeletionRecord = {
    deletedAt: context.now(),
    createdAt: target.record.createdAt,
    to: target.record.to,
  }
  write(context, (root) => {
    root.set(deletionKey(messageId), marker)
    if (root.has(messageKey(messageId))) root.delete(messageKey(messageId))
    if (root.has(editKey(messageId))) root.delete(editKey(messageId))
    // Signatures (issue 16) of a text that is gone: they go in the same write.
    for (const key of [signatureKey(messageId), editSignatureKey(messageId)])
      if (root.has(key)) root.delete(key)
  })
  return marker
}

/** The reply reference for a message about to be sent: the message it answers must be shown. */
export function replyReference(
  index: ConversationIndex,
  messageId: string,
  sealed?: IndexedMessage,
): { id: string; author: string } {
  const original = index.find(messageId) ?? (sealed?.record.id === messageId ? sealed : undefined)
  if (!original) throw new TicksError('unknown-message', `No message ${messageId} in this conversation`)
  if (original.deleted) throw new TicksError('deleted', `Message ${messageId} was deleted`)
  return { id: original.record.id, author: original.author }
}

/**
 * Members named as `@<userId>` in a text: unique, sorted, at most `limit`. Ids may end in `.`,
 * `-` or `~`, so "@bob." names bob when bob is a member and `bob.` is not.
 */
export function mentionsIn(text: string, members: ReadonlyMap<string, unknown>, limit: number): string[] {
  const found = new Set<string>()
  for (const match of text.matchAll(/(?<![A-Za-z0-9._~@-])@([A-Za-z0-9._~@-]+)/g)) {
    let candidate = match[1]!
    while (candidate.length > 0 && !members.has(candidate) && /[.~@-]$/.test(candidate)) {
      candidate = candidate.slice(0, -1)
    }
    if (members.has(candidate) && isValidId(candidate)) found.add(candidate)
  }
  return [...found].sort().slice(0, limit)
}

export function checkText(text: string, limits: Limits): void {
  if (typeof text !== 'string' || text.trim().length === 0) {
    throw new TicksError('empty-text', 'A message needs some text')
  }
  if (utf8Length(text) > limits.maxTextBytes) {
    throw new TicksError('text-too-long', `A message may hold at most ${limits.maxTextBytes} bytes`)
  }
}

/** A message this replica holds (live or sealed) that was not deleted for everyone. */
function liveTarget(context: ActionContext, messageId: string): IndexedMessage {
  const { sealed } = context
  const target = context.index.find(messageId) ?? (sealed?.record.id === messageId ? sealed : undefined)
  if (!target) throw new TicksError('unknown-message', `No message ${messageId} in this conversation`)
  if (target.deleted) throw new TicksError('deleted', `Message ${messageId} was deleted`)
  return target
}

/** As `liveTarget`, and written by the acting user: only the author edits or deletes. */
function ownTarget(context: ActionContext, messageId: string): IndexedMessage {
  const target = liveTarget(context, messageId)
  if (rootOfAuthor(target.author) !== userRoot(context.userId)) {
    throw new TicksError('not-owner', 'Only the author may change a message')
  }
  return target
}

function write(context: ActionContext, change: (root: import('yjs').Map<unknown>) => void): void {
  const doc = context.index.doc
  doc.transact(() => change(doc.getMap(userRoot(context.userId))), context.origin)
}

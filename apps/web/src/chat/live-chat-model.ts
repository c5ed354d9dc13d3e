import type { InboxEntry, LiveConversation, TicksClient } from '@ticks/client'
import { type ConversationState, createConversation } from '@ticks/solid'
import { createSignal, onCleanup } from 'solid-js'
import type { ChatModel } from './chat-model.js'
import { firstUnread, isUnread } from './unread.js'

/**
 * How long the view waits for the first sync before opening with what it has: a socket stuck
 * connecting must not hold back read receipts for good.
 */
const FIRST_SYNC_WAIT_MS = 5000
/** Pages fetched to reach the first unread message when it lies in sealed history. */
const UNREAD_PAGE = 200
/** Past this many older messages the chat opens at the oldest loaded instead: paging goes on from there. */
const MAX_UNREAD_HISTORY = 1000

/**
 * Page back until this user's first unread message is shown when it may lie in sealed history, so
 * the chat can open at it: while the oldest message shown is someone else's and unread. (Whether
 * sealed ones are unread cannot be told before they are loaded; one's own message there means the
 * user was in the chat, so paging stops.) At most `MAX_UNREAD_HISTORY` messages, and not past a
 * page that cannot be had.
 */
async function pageBackToFirstUnread(state: ConversationState): Promise<void> {
  let budget = MAX_UNREAD_HISTORY
  while (budget > 0 && state.hasOlder) {
    if (!unreadMayBeOlder(state.conversation)) return
    const added = await state.loadOlder(UNREAD_PAGE)
    if (added === 0) return
    budget -= added
  }
}

/** Whether the first unread message may lie below what is shown: the oldest shown is someone else's, unread. */
function unreadMayBeOlder(conversation: LiveConversation): boolean {
  const oldest = conversation.messages()[0]
  return oldest !== undefined && oldest.author !== conversation.userId && isUnread(conversation, oldest)
}

/**
 * Whether the chat can open from what this device stored, without waiting for the server: it
 * holds everything the inbox feed says the conversation holds (its newest message and this user's
 * read position), so the unread divider lands where the server's copy would put it. A long chat's
 * first screen is then one local read away instead of a round trip and the server's answer
 * (issue 15). Not when the first unread may lie in sealed history (the oldest stored message is
 * someone else's and unread): that takes the server.
 */
function storedIsCurrent(conversation: LiveConversation, entry: InboxEntry | undefined): boolean {
  if (!entry || !conversation.loadedFromDisk()) return false
  const index = conversation.conversationIndex
  if (index.lastSeq() < entry.lastSeq || index.watermarkOf(conversation.userId).r < entry.readSeq)
    return false
  return !unreadMayBeOlder(conversation)
}

export interface LiveChatOptions {
  /** This chat's entry in the inbox feed, when the app has the feed (see `storedIsCurrent`). */
  feedEntry?: () => InboxEntry | undefined
}

/**
 * The chat screen's model from `@ticks/solid`'s `createConversation`, for the lifetime of the
 * calling owner (it releases its handle on cleanup). Its messages are a store reconciled by id, so a
 * status change re-renders one bubble.
 */
export function createLiveChatModel(
  client: Pick<TicksClient, 'open'>,
  conversationId: string,
  options: LiveChatOptions = {},
): ChatModel {
  const state = createConversation(client, conversationId)
  const [loaded, setLoaded] = createSignal(false)
  // Local storage first, then the server: a reload shows stored messages at once and the rest
  // a moment later, and both must be in before the view can tell what is unread — unless what is
  // stored is already as current as the feed.
  void state.conversation.whenLoaded().then(() => {
    if (storedIsCurrent(state.conversation, options.feedEntry?.())) setLoaded(true)
  })
  const timer = setTimeout(() => setLoaded(true), FIRST_SYNC_WAIT_MS)
  void state.conversation
    .whenSynced()
    .then(() => pageBackToFirstUnread(state))
    .catch(() => {})
    .finally(() => setLoaded(true))
  onCleanup(() => clearTimeout(timer))
  return {
    userId: state.conversation.userId,
    maxTextBytes: state.conversation.limits.maxTextBytes,
    loaded,
    title: () => state.title,
    messages: () => state.messages,
    members: () => state.members,
    connection: () => state.connection,
    stopped: () => state.stopped,
    presence: () => state.presence,
    hasOlder: () => state.hasOlder,
    loadingOlder: () => state.loadingOlder,
    loadOlder: () => state.loadOlder(),
    firstUnread: () => firstUnread(state.conversation),
    receipts: (id) => state.receipts(id),
    failureReason: (id) => state.failureReason(id),
    verification: (message) => state.verification(message),
    send: (text, options) => void state.send(text, options),
    react: (id, emoji) => void state.react(id, emoji),
    unreact: (id, emoji) => void state.unreact(id, emoji),
    edit: (id, text) => void state.edit(id, text),
    deleteForEveryone: (id) => state.deleteForEveryone(id),
    retry: (id) => state.retry(id),
    discard: (id) => state.discard(id),
    markRead: (id) => state.markRead(id),
    setTyping: (typing) => state.setTyping(typing),
    reconnect: () => state.reconnect(),
  }
}

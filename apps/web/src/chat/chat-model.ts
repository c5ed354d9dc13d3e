import type { Member, Message, Status, Verification } from '@ticks/core'
import type { ConnectionState } from '../components/connection-banner.js'

export interface PresenceEntry {
  online: boolean
  typing: boolean
}

/**
 * What the chat screen reads and does, as reactive accessors. It is the seam between the view and
 * `@ticks/solid`: the app fills it from `createConversation`, the component tests from a core
 * `Conversation` on a bare document, so the view is tested without a server.
 */
export interface ChatModel {
  readonly userId: string
  /** The longest message text, in UTF-8 bytes: the composer says so before `send` would refuse it. */
  readonly maxTextBytes: number
  title(): string
  /** A store array: each element keeps its identity across updates, so one bubble re-renders. */
  messages(): Message[]
  members(): Record<string, Member>
  connection(): ConnectionState
  /** Why the connection gave up for good (auth, membership), if it did. */
  stopped(): { code: number; reason: string } | undefined
  /**
   * Whether what this device stored is loaded and the server's state merged (or could not be, being
   * offline or refused). Until then the messages are still arriving, so the view neither picks where
   * to open nor marks anything read.
   */
  loaded(): boolean
  presence(): Record<string, PresenceEntry>
  /**
   * Whether older messages remain in the sealed history (DESIGN section 12), and whether a page of
   * them is loading.
   */
  hasOlder(): boolean
  loadingOlder(): boolean
  /**
   * Show the next older page. Resolves how many messages were added: 0 at the beginning, or when
   * the page is neither on this device nor reachable; rejects when the server refuses.
   */
  loadOlder(): Promise<number>
  /** The oldest message from someone else this user has not read, where the chat opens. */
  firstUnread(): string | undefined
  receipts(messageId: string): Record<string, Status>
  failureReason(messageId: string): string | undefined
  /** Whether a message is its author's (signed messages); without it nothing is labelled. */
  verification?(message: Message): Verification
  /**
   * Throws a `TicksError` when the message cannot be written (too long, not a member, not loaded).
   * `replyTo` names the message it answers (issue 17).
   */
  send(text: string, options?: { replyTo?: string }): void
  /** Message actions (issue 17); each throws a `TicksError` when refused (limits, not the author). */
  react(messageId: string, emoji: string): void
  unreact(messageId: string, emoji: string): void
  edit(messageId: string, text: string): void
  deleteForEveryone(messageId: string): void
  retry(messageId: string): void
  discard(messageId: string): void
  markRead(upToMessageId: string): void
  setTyping(typing: boolean): void
  reconnect(): void
}

import type { Message, Status, Verification } from '@ticks/core'
import { Show } from 'solid-js'
import { defaultNameOf, formatTime, type NameOf, type StatusTimes } from '../chat/status-text.js'
import { MessageActionsMenu } from './message-actions-menu.js'
import { MessageStatus } from './message-status.js'
import { MessageText } from './message-text.js'
import { ReactionBar } from './reaction-bar.js'
import { ReplyQuote } from './reply-quote.js'
import { VerificationLabel } from './verification-label.js'

/** What the reader may do with a message (issue 17); the bubble offers what applies to it. */
export interface BubbleActions {
  onReply?: (message: Message) => void
  /** `mine`: the reader already has this emoji on it, so this takes it back. */
  onReact?: (message: Message, emoji: string, mine: boolean) => void
  /** Own messages only. */
  onEdit?: (message: Message) => void
  /** Own messages only: for everyone once sent, a discard while the server never had it. */
  onDelete?: (message: Message) => void
}

export interface MessageBubbleProps {
  /** A store-backed message: reading `message.status` here subscribes this bubble alone. */
  message: Message
  own: boolean
  /** Show the author's name above the text (groups, messages from others). */
  showAuthor?: boolean
  receipts?: Record<string, Status>
  times?: StatusTimes
  failureReason?: string
  nameOf?: NameOf
  /** Whether the message is its author's (signed messages); unverified ones are labelled. */
  verification?: Verification | undefined
  onRetry?: (messageId: string) => void
  onDiscard?: (messageId: string) => void
  /** Receives the bubble's element, e.g. to watch whether it is on screen. */
  onElement?: (element: HTMLElement) => void
  /** The reader: their reactions are highlighted, a mention of them marks the bubble. */
  userId?: string
  /** Without it the bubble offers no actions (a conversation the reader cannot write to). */
  actions?: BubbleActions
  /** Bring the message a quote names into view. */
  onJumpTo?: (messageId: string) => void
  /** Briefly marked: the original a quote was followed to. */
  highlighted?: boolean
}

export function MessageBubble(props: MessageBubbleProps) {
  const nameOf = () => props.nameOf ?? defaultNameOf
  const failed = () => props.message.status === 'failed'
  // Posted by an admin through the server (issue 16): nobody's message, shown across the chat.
  const announcement = () => props.message.announcement === true
  const author = () => (announcement() ? 'Announcement' : nameOf()(props.message.author))
  const deleted = () => props.message.deleted === true
  const mentionsReader = () =>
    !props.own && props.userId !== undefined && props.message.mentions?.includes(props.userId) === true
  const label = () =>
    [
      props.own ? 'You' : author(),
      formatTime(props.message.createdAt),
      ...(deleted() ? ['deleted'] : []),
      ...(props.message.edited && !deleted() ? ['edited'] : []),
      ...(mentionsReader() ? ['mentions you'] : []),
    ].join(', ')
  // A tombstone has no text left to verify (its signature left with it): nothing to label.
  const verification = () => (deleted() ? undefined : props.verification)
  const actions = () => (deleted() ? undefined : props.actions)
  const ownReactions = () => {
    const userId = props.userId
    const reactions = props.message.reactions
    if (userId === undefined || !reactions) return []
    return Object.keys(reactions).filter((emoji) => reactions[emoji]!.includes(userId))
  }
  const bind = <A extends unknown[]>(handler: ((message: Message, ...rest: A) => void) | undefined) =>
    handler && ((...rest: A) => handler(props.message, ...rest))
  return (
    <article
      ref={(element) => props.onElement?.(element)}
      class="bubble"
      classList={{
        'bubble--own': props.own,
        'bubble--other': !props.own && !announcement(),
        'bubble--announcement': announcement(),
        'bubble--failed': failed(),
        'bubble--deleted': deleted(),
        'bubble--mentioned': mentionsReader(),
        'bubble--highlighted': props.highlighted === true,
      }}
      tabindex="-1"
      data-message-id={props.message.id}
      data-status={props.message.status}
      aria-label={label()}
    >
      <Show when={actions()}>
        {(available) => (
          <MessageActionsMenu
            subject={props.own ? 'your message' : `message from ${author()}`}
            ownReactions={ownReactions()}
            onReact={bind(available().onReact)}
            onReply={bind(available().onReply)}
            onEdit={props.own && !announcement() ? bind(available().onEdit) : undefined}
            onDelete={props.own && !announcement() ? bind(available().onDelete) : undefined}
            deleteLabel={props.message.seq === undefined ? 'Delete' : 'Delete for everyone'}
          />
        )}
      </Show>
      <Show when={(props.showAuthor && !props.own) || announcement()}>
        <div class="bubble__author">{author()}</div>
      </Show>
      <Show when={!deleted() && props.message.replyTo}>
        {(replyTo) => (
          <ReplyQuote replyTo={replyTo()} userId={props.userId} nameOf={nameOf()} onJump={props.onJumpTo} />
        )}
      </Show>
      <Show
        when={!deleted()}
        fallback={<p class="bubble__text bubble__text--deleted">This message was deleted</p>}
      >
        <MessageText
          text={props.message.text}
          mentions={props.message.mentions}
          userId={props.userId}
          nameOf={nameOf()}
        />
      </Show>
      <Show when={!deleted() && props.message.reactions}>
        {(reactions) => (
          <ReactionBar
            reactions={reactions()}
            userId={props.userId}
            nameOf={nameOf()}
            onToggle={
              props.actions?.onReact &&
              ((emoji, mine) => props.actions?.onReact?.(props.message, emoji, mine))
            }
          />
        )}
      </Show>
      <div class="bubble__meta">
        {/* In the meta line, whose height it shares: the answer comes after the bubble is drawn, and
            a line of its own would then push every row below it (the reader's place moves). */}
        <VerificationLabel verification={verification()} />
        <Show when={props.message.edited && !deleted()}>
          <span class="bubble__edited">edited</span>
        </Show>
        <time class="bubble__time" datetime={new Date(props.message.createdAt).toISOString()}>
          {formatTime(props.message.createdAt)}
        </time>
        <Show when={props.own}>
          <MessageStatus
            status={props.message.status}
            receipts={props.receipts ?? {}}
            createdAt={props.message.createdAt}
            times={props.times}
            failureReason={props.failureReason}
            nameOf={props.nameOf}
          />
        </Show>
      </div>
      <Show when={props.own && failed()}>
        <div class="bubble__failure" role="alert">
          <span class="bubble__reason">{props.failureReason ?? 'The server refused this message.'}</span>
          <button
            type="button"
            class="button button--small"
            onClick={() => props.onRetry?.(props.message.id)}
          >
            Retry
          </button>
          <Show when={props.onDiscard}>
            <button
              type="button"
              class="button button--small button--ghost"
              onClick={() => props.onDiscard?.(props.message.id)}
            >
              Delete
            </button>
          </Show>
        </div>
      </Show>
    </article>
  )
}

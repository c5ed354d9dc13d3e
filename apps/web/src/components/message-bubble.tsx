import type { Message, Status, Verification } from '@ticks/core'
import { Show } from 'solid-js'
import { defaultNameOf, formatTime, type NameOf, type StatusTimes } from '../chat/status-text.js'
import { MessageStatus } from './message-status.js'
import { VerificationLabel } from './verification-label.js'

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
}

export function MessageBubble(props: MessageBubbleProps) {
  const nameOf = () => props.nameOf ?? defaultNameOf
  const failed = () => props.message.status === 'failed'
  // Posted by an admin through the server (issue 16): nobody's message, shown across the chat.
  const announcement = () => props.message.announcement === true
  const author = () => (announcement() ? 'Announcement' : nameOf()(props.message.author))
  return (
    <article
      ref={(element) => props.onElement?.(element)}
      class="bubble"
      classList={{
        'bubble--own': props.own,
        'bubble--other': !props.own && !announcement(),
        'bubble--announcement': announcement(),
        'bubble--failed': failed(),
      }}
      data-message-id={props.message.id}
      data-status={props.message.status}
      aria-label={`${props.own ? 'You' : author()}, ${formatTime(props.message.createdAt)}`}
    >
      <Show when={(props.showAuthor && !props.own) || announcement()}>
        <div class="bubble__author">{author()}</div>
      </Show>
      <p class="bubble__text">{props.message.text}</p>
      <VerificationLabel verification={props.verification} />
      <div class="bubble__meta">
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

import type { Message } from '@ticks/core'
import { Match, Show, Switch } from 'solid-js'
import { shortQuote } from '../chat/reaction-text.js'
import type { NameOf } from '../chat/status-text.js'

export type ReplyReference = NonNullable<Message['replyTo']>

export interface ReplyQuoteProps {
  replyTo: ReplyReference
  userId?: string
  nameOf: NameOf
  /** Bring the original into view; offered when this device holds it. */
  onJump?: (messageId: string) => void
}

/**
 * The message a reply answers, quoted in the reply's bubble: who wrote it and what, "message
 * deleted", or — held nowhere on this device (not loaded yet, or sealed into history) — a
 * placeholder that still says whom it answered.
 */
export function ReplyQuote(props: ReplyQuoteProps) {
  const author = () => (props.replyTo.author === props.userId ? 'You' : props.nameOf(props.replyTo.author))
  const held = () => props.replyTo.deleted === true || props.replyTo.text !== undefined
  const body = () => (
    <>
      <span class="visually-hidden">In reply to </span>
      <span class="reply-quote__author">{author()}</span>
      <span class="reply-quote__text">
        <Switch fallback={<em>Original message not loaded</em>}>
          <Match when={props.replyTo.deleted}>
            <em>message deleted</em>
          </Match>
          <Match when={props.replyTo.text !== undefined}>{shortQuote(props.replyTo.text!)}</Match>
        </Switch>
      </span>
    </>
  )
  return (
    <Show when={held() && props.onJump} fallback={<div class="reply-quote">{body()}</div>}>
      <button
        type="button"
        class="reply-quote reply-quote--link"
        title="Show the original message"
        onClick={() => props.onJump?.(props.replyTo.id)}
      >
        {body()}
      </button>
    </Show>
  )
}

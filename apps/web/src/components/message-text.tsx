import { For, Show } from 'solid-js'
import { splitMentions } from '../chat/mentions.js'
import type { NameOf } from '../chat/status-text.js'

export interface MessageTextProps {
  text: string
  /** The members the message recorded as mentioned: their `@<id>` is highlighted. */
  mentions?: readonly string[]
  userId?: string
  nameOf: NameOf
}

/** A message's text with its mentions highlighted; one naming the reader stands out more. */
export function MessageText(props: MessageTextProps) {
  const parts = () => splitMentions(props.text, props.mentions ?? [])
  return (
    <p class="bubble__text">
      <For each={parts()}>
        {(part) => (
          <Show when={part.mention} fallback={part.text}>
            {(user) => (
              <span
                class="mention"
                classList={{ 'mention--me': user() === props.userId }}
                title={user() === props.userId ? 'Mentions you' : props.nameOf(user())}
              >
                {part.text}
              </span>
            )}
          </Show>
        )}
      </For>
    </p>
  )
}

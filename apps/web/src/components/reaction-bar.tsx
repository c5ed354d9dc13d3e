import { For, Show } from 'solid-js'
import { reactionLabel } from '../chat/reaction-text.js'
import type { NameOf } from '../chat/status-text.js'

export interface ReactionBarProps {
  /** Per emoji, the members who reacted (the engine's merged view). */
  reactions: Record<string, string[]>
  userId?: string
  nameOf: NameOf
  /** Pressing a chip takes one's own reaction back, or adds it; without this, chips only show. */
  onToggle?: (emoji: string, mine: boolean) => void
}

/** Reactions under a bubble: a chip per emoji with its count, the reader's own highlighted. */
export function ReactionBar(props: ReactionBarProps) {
  const entries = () => Object.entries(props.reactions).filter(([, users]) => users.length > 0)
  return (
    <Show when={entries().length > 0}>
      <ul class="reactions" aria-label="Reactions">
        <For each={entries()}>
          {([emoji, users]) => {
            const mine = () => props.userId !== undefined && users.includes(props.userId)
            const label = () => reactionLabel(emoji, users, props.userId ?? '', props.nameOf)
            return (
              <li>
                <button
                  type="button"
                  class="reaction-chip"
                  classList={{ 'reaction-chip--mine': mine() }}
                  aria-pressed={mine()}
                  aria-label={label()}
                  title={mine() ? `${label()} (press to remove yours)` : label()}
                  disabled={!props.onToggle}
                  onClick={() => props.onToggle?.(emoji, mine())}
                >
                  <span aria-hidden="true">{emoji}</span>
                  <span class="reaction-chip__count" aria-hidden="true">
                    {users.length}
                  </span>
                </button>
              </li>
            )
          }}
        </For>
      </ul>
    </Show>
  )
}

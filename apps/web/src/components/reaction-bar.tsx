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
  // Keyed by emoji, so a chip stays the same element as its count changes: the keyboard focus
  // stays on the chip just pressed.
  const emojis = () => Object.keys(props.reactions).filter((emoji) => props.reactions[emoji]!.length > 0)
  return (
    <Show when={emojis().length > 0}>
      <ul class="reactions" aria-label="Reactions">
        <For each={emojis()}>
          {(emoji) => {
            const users = () => props.reactions[emoji] ?? []
            const mine = () => props.userId !== undefined && users().includes(props.userId)
            const label = () => reactionLabel(emoji, users(), props.userId ?? '', props.nameOf)
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
                    {users().length}
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

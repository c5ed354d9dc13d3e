import { Show } from 'solid-js'

/** Shown when new messages arrive while the user is reading further up; a click jumps down. */
export function NewMessagesPill(props: { count: number; onClick: () => void }) {
  return (
    <Show when={props.count > 0}>
      <button type="button" class="new-messages-pill" onClick={() => props.onClick()}>
        {props.count === 1 ? '1 new message' : `${props.count} new messages`}
        <span aria-hidden="true"> ↓</span>
      </button>
    </Show>
  )
}

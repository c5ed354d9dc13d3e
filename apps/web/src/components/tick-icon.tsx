import type { Status } from '@ticks/core'
import { Match, Switch } from 'solid-js'

/** The glyph for a status; purely decorative (the caller supplies the text alternative). */
export function TickIcon(props: { status: Status }) {
  return (
    <svg class="tick-icon" viewBox="0 0 20 14" width="18" height="13" aria-hidden="true">
      <Switch>
        <Match when={props.status === 'pending'}>
          <circle cx="10" cy="7" r="5.5" fill="none" stroke="currentColor" stroke-width="1.5" />
          <path
            d="M10 4v3.3l2.2 1.4"
            fill="none"
            stroke="currentColor"
            stroke-width="1.5"
            stroke-linecap="round"
          />
        </Match>
        <Match when={props.status === 'sent'}>
          <path
            d="M4 7.5l3 3 7-7.5"
            fill="none"
            stroke="currentColor"
            stroke-width="1.8"
            stroke-linecap="round"
            stroke-linejoin="round"
          />
        </Match>
        <Match when={props.status === 'delivered' || props.status === 'read'}>
          <path
            d="M1.5 7.5l3 3 7-7.5"
            fill="none"
            stroke="currentColor"
            stroke-width="1.8"
            stroke-linecap="round"
            stroke-linejoin="round"
          />
          <path
            d="M7 9l1.5 1.5 7-7.5"
            fill="none"
            stroke="currentColor"
            stroke-width="1.8"
            stroke-linecap="round"
            stroke-linejoin="round"
          />
        </Match>
        <Match when={props.status === 'failed'}>
          <circle cx="10" cy="7" r="6" fill="currentColor" />
          <path d="M10 3.6v4.2" stroke="#fff" stroke-width="1.8" stroke-linecap="round" />
          <circle cx="10" cy="10.2" r="1" fill="#fff" />
        </Match>
      </Switch>
    </svg>
  )
}

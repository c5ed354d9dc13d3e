import type { Status } from '@ticks/core'
import { createSignal, createUniqueId, For, Show } from 'solid-js'
import {
  defaultNameOf,
  groupSummary,
  type NameOf,
  type StatusTimes,
  statusLabel,
  tooltipLines,
} from '../chat/status-text.js'
import { TickIcon } from './tick-icon.js'

export interface MessageStatusProps {
  status: Status
  receipts: Record<string, Status>
  createdAt: number
  times?: StatusTimes
  failureReason?: string
  nameOf?: NameOf
}

/**
 * The ticks on one of your own messages. Focusable so keyboard users reach the same tooltip a mouse
 * hover shows; the icon is decorative and the label is the text alternative ("Read by Bob").
 */
export function MessageStatus(props: MessageStatusProps) {
  const tooltipId = createUniqueId()
  const nameOf = () => props.nameOf ?? defaultNameOf
  const label = () => statusLabel(props.status, props.receipts, nameOf(), props.failureReason)
  const summary = () => groupSummary(props.status, props.receipts)
  const lines = () => tooltipLines(props.status, props.receipts, props.times ?? {}, props.createdAt, nameOf())
  // The tooltip opens above the ticks, unless that would cut it off at the top of the scroller (the
  // first messages of a chat): then below.
  const [below, setBelow] = createSignal(false)
  const place = (event: Event) => {
    const ticks = event.currentTarget as HTMLElement
    const tooltip = ticks.nextElementSibling as HTMLElement | null
    const scroller = ticks.closest('.messages') ?? document.documentElement
    const room = ticks.getBoundingClientRect().top - scroller.getBoundingClientRect().top
    const needed = (tooltip?.scrollHeight || 80) + 12
    setBelow(room < needed)
  }
  return (
    <span class="message-status" data-status={props.status}>
      <Show when={summary()}>{(text) => <span class="message-status__summary">{text()}</span>}</Show>
      <span
        class="ticks"
        role="img"
        tabindex="0"
        aria-label={label()}
        aria-describedby={tooltipId}
        onMouseEnter={place}
        onFocus={place}
      >
        <TickIcon status={props.status} />
      </span>
      <span class="tooltip" classList={{ 'tooltip--below': below() }} role="tooltip" id={tooltipId}>
        <For each={lines()}>{(line) => <span class="tooltip__line">{line}</span>}</For>
      </span>
    </span>
  )
}

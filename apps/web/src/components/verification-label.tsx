import type { Verification } from '@ticks/core'
import { Show } from 'solid-js'

const LABELS: Partial<Record<Verification, { text: string; description: string }>> = {
  unverified: {
    text: 'Unverified',
    description: 'Unverified: this message is not signed by its author, or its signature does not match.',
  },
  'unknown-key': {
    text: 'Unknown key',
    description: "Unverified: signed with a key its author has not published. Don't trust it.",
  },
}

/**
 * A plain label on a message that cannot be shown to be its author's (signed messages, issue 16);
 * nothing for a verified message, nor while it is being checked (its signature may be a moment
 * behind it), nor when nobody said.
 */
export function VerificationLabel(props: { verification: Verification | undefined }) {
  const label = () => (props.verification ? LABELS[props.verification] : undefined)
  return (
    <Show when={label()}>
      {(shown) => (
        <span
          class="bubble__verification"
          role="note"
          aria-label={shown().description}
          title={shown().description}
        >
          ⚠ {shown().text}
        </span>
      )}
    </Show>
  )
}

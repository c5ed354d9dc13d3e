import { shortQuote } from '../chat/reaction-text.js'

export interface ComposerContextProps {
  /** Replying to a message, or editing one's own. */
  kind: 'reply' | 'edit'
  /** Whose message it is, as shown ("You" for one's own). */
  author: string
  /** Its text (or what stands for it). */
  text: string
  onCancel: () => void
}

/**
 * Above the composer's box: what the next Enter does besides sending ("Replying to bob" with a short
 * quote, or "Editing your message"), and how to back out (the button, or Escape in the box).
 */
export function ComposerContext(props: ComposerContextProps) {
  const heading = () => (props.kind === 'reply' ? `Replying to ${props.author}` : 'Editing your message')
  return (
    <div class="composer-context" data-kind={props.kind}>
      <div class="composer-context__body" aria-live="polite">
        <span class="composer-context__heading">{heading()}</span>
        <span class="composer-context__quote">{shortQuote(props.text)}</span>
      </div>
      <button
        type="button"
        class="composer-context__cancel"
        aria-label={props.kind === 'reply' ? 'Cancel reply' : 'Cancel editing'}
        title="Cancel (Escape)"
        onClick={() => props.onCancel()}
      >
        ×
      </button>
    </div>
  )
}

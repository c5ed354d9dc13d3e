import { createSignal } from 'solid-js'

export interface ComposerProps {
  onSend: (text: string) => void
  /** Called on each keystroke; the host throttles what it broadcasts. */
  onTyping?: () => void
  disabled?: boolean
  placeholder?: string
}

/** Grow with the text up to the CSS max-height, then scroll. */
function fitToContent(textarea: HTMLTextAreaElement): void {
  textarea.style.height = 'auto'
  if (textarea.scrollHeight > 0) textarea.style.height = `${textarea.scrollHeight + 2}px`
}

/** Enter sends, Shift+Enter adds a line: the convention every messenger's users already know. */
export function Composer(props: ComposerProps) {
  const [text, setText] = createSignal('')
  let input: HTMLTextAreaElement | undefined
  const send = () => {
    const value = text()
    if (value.trim().length === 0 || props.disabled) return
    props.onSend(value)
    setText('')
    if (input) fitToContent(input)
    input?.focus()
  }
  return (
    <form
      class="composer"
      onSubmit={(event) => {
        event.preventDefault()
        send()
      }}
    >
      <label class="visually-hidden" for="composer-input">
        Message
      </label>
      <textarea
        id="composer-input"
        ref={input}
        class="composer__input"
        rows="1"
        placeholder={props.placeholder ?? 'Write a message…'}
        value={text()}
        disabled={props.disabled}
        onInput={(event) => {
          setText(event.currentTarget.value)
          fitToContent(event.currentTarget)
          props.onTyping?.()
        }}
        onKeyDown={(event) => {
          if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
            event.preventDefault()
            send()
          }
        }}
      />
      <button
        type="submit"
        class="button composer__send"
        disabled={props.disabled || text().trim().length === 0}
        aria-label="Send"
      >
        <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
          <path d="M3 20l18-8L3 4v6l12 2-12 2z" fill="currentColor" />
        </svg>
      </button>
    </form>
  )
}

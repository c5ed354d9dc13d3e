import { utf8Length } from '@ticks/core'
import { createMemo, createSignal, Show } from 'solid-js'

export interface ComposerProps {
  /** Whether the message was taken; when refused (false), the text stays for the user to fix. */
  onSend: (text: string) => boolean
  /** Called on each keystroke; the host throttles what it broadcasts. */
  onTyping?: () => void
  disabled?: boolean
  placeholder?: string
  /** The longest message, in UTF-8 bytes (the model's limit): longer ones cannot be sent. */
  maxBytes?: number
  /** Why the last message could not be sent, shown under the box. */
  error?: string
}

/** Grow with the text up to the CSS max-height, then scroll. */
function fitToContent(textarea: HTMLTextAreaElement): void {
  textarea.style.height = 'auto'
  if (textarea.scrollHeight > 0) textarea.style.height = `${textarea.scrollHeight + 2}px`
}

const kib = (bytes: number) => `${Math.ceil(bytes / 1024)} KB`

/** Enter sends, Shift+Enter adds a line: the convention every messenger's users already know. */
export function Composer(props: ComposerProps) {
  const [text, setText] = createSignal('')
  let input: HTMLTextAreaElement | undefined
  // A UTF-16 unit is at most 3 UTF-8 bytes: short drafts skip the encoding on each keystroke.
  const tooLong = createMemo(() => {
    const max = props.maxBytes
    const value = text()
    if (max === undefined || value.length * 3 <= max) return undefined
    const bytes = utf8Length(value)
    return bytes > max ? bytes : undefined
  })
  const note = () => {
    const bytes = tooLong()
    if (bytes !== undefined) {
      return `Too long to send: ${kib(bytes)}, the limit is ${kib(props.maxBytes!)}. Shorten it, or split it into several messages.`
    }
    return props.error
  }
  const send = () => {
    const value = text()
    if (value.trim().length === 0 || props.disabled || tooLong() !== undefined) return
    if (props.onSend(value) === false) return
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
        aria-describedby={note() ? 'composer-note' : undefined}
        aria-invalid={tooLong() !== undefined ? 'true' : undefined}
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
        disabled={props.disabled || text().trim().length === 0 || tooLong() !== undefined}
        aria-label="Send"
      >
        <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
          <path d="M3 20l18-8L3 4v6l12 2-12 2z" fill="currentColor" />
        </svg>
      </button>
      <Show when={note()}>
        <p id="composer-note" class="composer__note form-error" role="alert">
          {note()}
        </p>
      </Show>
    </form>
  )
}

import { utf8Length } from '@ticks/core'
import { createMemo, createSignal, type JSX, Show } from 'solid-js'

/** What the chat does with the box besides typing: put a message in to edit, bring a draft back. */
export interface ComposerHandle {
  text(): string
  setText(text: string): void
  focus(): void
}

export interface ComposerProps {
  /**
   * Whether the message was taken; when refused (false), the text stays for the user to fix. A
   * string is what the box holds next instead of nothing (the draft put aside to edit a message).
   */
  onSend: (text: string) => boolean | string
  /** Shown above the box: what Enter does besides sending (replying, editing). */
  context?: JSX.Element
  /** Escape in the box backs out of that context. */
  onCancel?: () => void
  /** Up in an empty box: edit one's last message, as in most messengers. */
  onEditLast?: () => void
  /** The submit button's name: "Send", or "Save" while editing. */
  submitLabel?: string
  handle?: (handle: ComposerHandle) => void
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
  const show = (value: string) => {
    setText(value)
    if (input) {
      // Set at once, not on the next render: fitting reads the box's new height.
      input.value = value
      fitToContent(input)
    }
  }
  props.handle?.({
    text,
    setText: show,
    focus: () => {
      input?.focus()
      input?.setSelectionRange(input.value.length, input.value.length)
    },
  })
  const send = () => {
    const value = text()
    if (value.trim().length === 0 || props.disabled || tooLong() !== undefined) return
    const taken = props.onSend(value)
    if (taken === false) return
    show(typeof taken === 'string' ? taken : '')
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
      {props.context}
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
          } else if (event.key === 'Escape' && props.onCancel) {
            event.preventDefault()
            props.onCancel()
          } else if (event.key === 'ArrowUp' && text() === '' && props.onEditLast) {
            event.preventDefault()
            props.onEditLast()
          }
        }}
      />
      <button
        type="submit"
        class="button composer__send"
        disabled={props.disabled || text().trim().length === 0 || tooLong() !== undefined}
        aria-label={props.submitLabel ?? 'Send'}
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

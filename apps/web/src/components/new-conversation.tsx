import { createSignal, Show } from 'solid-js'
import { isValidName, NAME_RULE } from '../names.js'

export interface NewConversationProps {
  onCreate: (title: string, members: string[]) => Promise<void>
}

/** Members are typed as names separated by commas or spaces; you are added by the server. */
export function parseMembers(input: string): string[] {
  return [...new Set(input.split(/[\s,]+/).filter((name) => name.length > 0))]
}

export function NewConversation(props: NewConversationProps) {
  const [open, setOpen] = createSignal(false)
  const [title, setTitle] = createSignal('')
  const [members, setMembers] = createSignal('')
  const [error, setError] = createSignal<string>()
  const [busy, setBusy] = createSignal(false)
  // Keyboard and screen-reader users land where the next step is: the form's first field when it
  // opens, the button that opened it when it is cancelled.
  let opener: HTMLButtonElement | undefined
  const show = () => {
    setOpen(true)
    queueMicrotask(() => document.getElementById('new-title')?.focus())
  }
  const hide = () => {
    setOpen(false)
    queueMicrotask(() => opener?.focus())
  }

  const submit = async (event: SubmitEvent) => {
    event.preventDefault()
    const names = parseMembers(members())
    if (!title().trim() || names.length === 0) {
      setError('Give it a title and at least one member.')
      return
    }
    const invalid = names.filter((name) => !isValidName(name))
    if (invalid.length > 0) {
      const quoted = invalid.map((name) => `“${name}”`).join(', ')
      setError(
        `${quoted} ${invalid.length === 1 ? 'is not a valid name' : 'are not valid names'}. ${NAME_RULE}`,
      )
      return
    }
    setBusy(true)
    setError(undefined)
    try {
      await props.onCreate(title().trim(), names)
      setTitle('')
      setMembers('')
      setOpen(false)
      // The new chat is open: what comes next is its first message.
      setTimeout(() => document.getElementById('composer-input')?.focus(), 0)
    } catch (cause) {
      setError(`Could not create it: ${(cause as Error).message}`)
    } finally {
      setBusy(false)
    }
  }

  return (
    <div class="new-conversation">
      <Show
        when={open()}
        fallback={
          <button type="button" class="button button--block" ref={opener} onClick={show}>
            New conversation
          </button>
        }
      >
        <form class="stack new-conversation__form" onSubmit={submit} aria-label="New conversation">
          <label for="new-title">Title</label>
          <input
            id="new-title"
            maxLength={200}
            value={title()}
            onInput={(event) => setTitle(event.currentTarget.value)}
          />
          <label for="new-members">Members</label>
          <input
            id="new-members"
            placeholder="bob, carol"
            value={members()}
            onInput={(event) => setMembers(event.currentTarget.value)}
          />
          <div class="row">
            <button type="submit" class="button" disabled={busy()}>
              Create
            </button>
            <button type="button" class="button button--ghost" onClick={hide}>
              Cancel
            </button>
          </div>
          <Show when={error()}>
            <p class="form-error" role="alert">
              {error()}
            </p>
          </Show>
        </form>
      </Show>
    </div>
  )
}

import { createSignal, Show } from 'solid-js'
import { ApiError } from '../api.js'
import { isValidName, NAME_RULE } from '../names.js'
import type { Session } from '../session.js'
import { subjectOf } from '../session.js'

/** Only a server without sign-in by name (not in dev mode) answers 404 or 403 to it. */
const signInByNameMissing = (cause: unknown) =>
  cause instanceof ApiError && (cause.status === 404 || cause.status === 403)

export interface SignInProps {
  /** Dev mode: exchange a name for a token (`POST /api/session`). */
  requestDevToken: (userId: string) => Promise<{ token: string }>
  onSignIn: (session: Session) => void
}

/** Two ways in: a name (dev servers sign anything) or a JWT from your identity provider. */
export function SignIn(props: SignInProps) {
  const [name, setName] = createSignal('')
  const [jwt, setJwt] = createSignal('')
  const [error, setError] = createSignal<string>()
  const [busy, setBusy] = createSignal(false)

  const signInByName = async (event: SubmitEvent) => {
    event.preventDefault()
    const userId = name().trim()
    if (!userId) return
    if (!isValidName(userId)) {
      setError(`“${userId}” cannot be used as a name. ${NAME_RULE}`)
      return
    }
    setBusy(true)
    setError(undefined)
    try {
      const { token } = await props.requestDevToken(userId)
      props.onSignIn({ userId, token })
    } catch (cause) {
      const message = (cause as Error).message.replace(/\.$/, '')
      setError(
        signInByNameMissing(cause)
          ? `Could not sign in: ${message}. Is the server in dev mode? If not, sign in with a token.`
          : `Could not sign in: ${message}.`,
      )
    } finally {
      setBusy(false)
    }
  }

  const signInWithToken = (event: SubmitEvent) => {
    event.preventDefault()
    const token = jwt().trim()
    const userId = subjectOf(token)
    if (!userId) {
      setError('That does not look like a JWT with a "sub" claim.')
      return
    }
    props.onSignIn({ userId, token })
  }

  return (
    <main class="sign-in">
      <div class="sign-in__card">
        <h1 class="sign-in__title">
          <img src="/icon.svg" alt="" width="40" height="40" /> Ticks
        </h1>
        <p class="sign-in__lead">Chat that keeps working offline.</p>
        <form class="stack" onSubmit={signInByName}>
          <label for="sign-in-name">Your name</label>
          <input
            id="sign-in-name"
            name="userId"
            autofocus
            autocomplete="username"
            value={name()}
            onInput={(event) => setName(event.currentTarget.value)}
            placeholder="alice"
            required
          />
          <button type="submit" class="button" disabled={busy()}>
            Sign in
          </button>
        </form>
        <details class="sign-in__jwt">
          <summary>Sign in with a token instead</summary>
          <form class="stack" onSubmit={signInWithToken}>
            <label for="sign-in-jwt">JWT</label>
            <textarea
              id="sign-in-jwt"
              rows="3"
              value={jwt()}
              onInput={(event) => setJwt(event.currentTarget.value)}
            />
            <button type="submit" class="button button--ghost">
              Use token
            </button>
          </form>
        </details>
        <Show when={error()}>
          <p class="form-error" role="alert">
            {error()}
          </p>
        </Show>
      </div>
    </main>
  )
}

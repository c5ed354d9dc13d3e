/** The way out of a refused session (4401, or a 401 on the list): retrying cannot help. */
export function SignInAgainButton(props: { onSignInAgain?: (() => void) | undefined }) {
  return (
    <button type="button" class="button button--small button--ghost" onClick={() => props.onSignInAgain?.()}>
      Sign in again
    </button>
  )
}

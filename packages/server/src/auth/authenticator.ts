/** The auth seam: turn a bearer token into a user id. One file, so other schemes plug in here. */
export interface Authenticator {
  readonly mode: 'secret' | 'jwks' | 'dev'
  /**
   * The token's user (`sub`), and whether it may post announcements (issue 16): a `ticks_admin:
   * true` claim, or `ticks:admin` in its `scope`. Rejects with AuthError when the token is missing,
   * bad or expired.
   */
  verify(token: string | undefined): Promise<Identity>
  /** Dev mode, or a secret with dev sessions (`--dev-sessions`), only: sign a token for any user id. */
  issue?(userId: string, options?: { admin?: boolean }): Promise<string>
}

export interface Identity {
  userId: string
  admin: boolean
}

/** The token is missing, malformed, expired or not signed by a trusted key: sign in again. */
export class AuthError extends Error {
  override name = 'AuthError'
}

/**
 * The token could not be checked at all (the JWKS endpoint is down or answers garbage). Not the
 * user's fault: answered with 503 / close 1013, so clients retry instead of asking everyone to
 * sign in again during an identity-provider outage.
 */
export class AuthUnavailableError extends Error {
  override name = 'AuthUnavailableError'
}

/** What clients are told during such an outage (the cause, with the provider's URL, is only logged). */
export const AUTH_UNAVAILABLE = 'cannot check the token now: try again later'

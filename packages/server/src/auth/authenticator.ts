/** The auth seam: turn a bearer token into a user id. One file, so other schemes plug in here. */
export interface Authenticator {
  readonly mode: 'secret' | 'jwks' | 'dev'
  /** The token's user (`sub`); rejects with AuthError when the token is missing, bad or expired. */
  verify(token: string | undefined): Promise<{ userId: string }>
  /** Dev mode only: sign a token for any user id. */
  issue?(userId: string): Promise<string>
}

export class AuthError extends Error {
  override name = 'AuthError'
}

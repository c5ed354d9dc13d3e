/** Why an API call was refused. Stable strings: apps switch on them. */
export type TicksErrorCode =
  | 'empty-text'
  | 'text-too-long'
  | 'unknown-message'
  | 'not-a-member'
  | 'read-only'
  | 'not-owner'
  | 'invalid-argument'
  | 'not-synced'
  | 'closed'
  | 'deleted'
  | 'too-many-reactions'
  | 'rate-limited'

/** A typed refusal from the model. Bad input is never a silent no-op. */
export class TicksError extends Error {
  readonly code: TicksErrorCode

  constructor(code: TicksErrorCode, message: string) {
    super(message)
    this.name = 'TicksError'
    this.code = code
  }
}

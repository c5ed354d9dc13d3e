/**
 * Whether the store's writes are failing. A read-only probe cannot see a full disk or a read-only
 * file: reads keep working while every commit fails. So the rooms report each commit's outcome
 * here, and `/readyz` fails from the first failed commit until a write succeeds again.
 */
export interface StoreHealth {
  committed(): void
  commitFailed(error: unknown): void
  /** The first failure since the last successful write, or undefined while writes succeed. */
  failing(): { since: number; message: string } | undefined
}

export function createStoreHealth(): StoreHealth {
  let failure: { since: number; message: string } | undefined
  return {
    committed() {
      failure = undefined
    },
    commitFailed(error) {
      failure ??= { since: Date.now(), message: error instanceof Error ? error.message : String(error) }
    },
    failing: () => failure,
  }
}

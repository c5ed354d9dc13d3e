import type { Claim } from './store.js'

/**
 * The claim rule of the `Store` contract, shared by every adapter (PostgreSQL reads the stored
 * holders in SQL, then judges here): why `claims` may not be taken, given who holds each key now;
 * undefined when they may. Claims later in the list see the earlier ones as held.
 */
export function claimProblem(
  docId: string,
  claims: readonly Claim[],
  storedHolder: (key: string) => string | undefined,
): string | undefined {
  const taken = new Map<string, string>()
  for (const { key, holder } of claims) {
    const current = taken.get(key) ?? storedHolder(key)
    if (current !== undefined && current !== holder) {
      return `${key} of ${docId} is already held by ${current}, not ${holder}`
    }
    taken.set(key, holder)
  }
  return undefined
}

/** Claims in key order, one per key: every adapter takes its locks in the same order. */
export const sortedClaims = (claims: readonly Claim[]): Claim[] => {
  const byKey = new Map<string, Claim>()
  for (const claim of claims) if (!byKey.has(claim.key)) byKey.set(claim.key, claim)
  return [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
}

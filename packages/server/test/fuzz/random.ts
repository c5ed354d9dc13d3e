/**
 * A seeded PRNG (mulberry32): the whole campaign's choices come from one seed, so a failing run
 * is replayed by passing its seed back (`TICKS_FUZZ_SEED`).
 */
export interface Random {
  readonly seed: number
  /** A float in [0, 1). */
  next(): number
  /** An integer in [0, maxExclusive). */
  int(maxExclusive: number): number
  chance(probability: number): boolean
  pick<T>(items: readonly T[]): T
  bytes(length: number): Uint8Array
  /** A Fisher–Yates shuffle of a copy. */
  shuffled<T>(items: readonly T[]): T[]
  /** An unsigned 32-bit integer (Yjs client ids are drawn from this range). */
  uint32(): number
}

export function createRandom(seed: number): Random {
  let state = seed >>> 0
  const uint32 = (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }
  const next = () => uint32() / 2 ** 32
  const int = (maxExclusive: number) => Math.floor(next() * maxExclusive)
  return {
    seed,
    next,
    int,
    uint32,
    chance: (probability) => next() < probability,
    pick: (items) => {
      if (items.length === 0) throw new Error('pick from an empty list')
      return items[int(items.length)]!
    },
    bytes: (length) => Uint8Array.from({ length }, () => uint32() & 0xff),
    shuffled: (items) => {
      const copy = [...items]
      for (let i = copy.length - 1; i > 0; i--) {
        const j = int(i + 1)
        ;[copy[i], copy[j]] = [copy[j]!, copy[i]!]
      }
      return copy
    },
  }
}

/** The seed from `variable` (`TICKS_FUZZ_SEED`), else one from the clock (printed with every summary). */
export function seedFromEnv(env: NodeJS.ProcessEnv = process.env, variable = 'TICKS_FUZZ_SEED'): number {
  const given = env[variable]
  if (given !== undefined && given !== '') {
    const seed = Number(given)
    if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`${variable}=${given} is not a seed`)
    return seed >>> 0
  }
  return Date.now() % 2 ** 31
}

import { requireSeed } from './validation.js'

/**
 * A small seeded PRNG (sfc32 over a splitmix32-expanded seed). The testkit never calls
 * `Math.random`: the same seed must replay the same run, so every random choice comes from here.
 */
export interface Random {
  /** A float in [0, 1). */
  next(): number
  /** An integer in [min, max] (inclusive). */
  int(min: number, max: number): number
  /** True with probability `p`. */
  chance(p: number): boolean
  pick<T>(items: readonly T[]): T
  /** A new independent stream derived from this one, so adding draws in one place does not shift another. */
  fork(): Random
}

function splitmix32(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x9e3779b9) >>> 0
    let z = state
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
    return (z ^ (z >>> 16)) >>> 0
  }
}

/** `seed`: an integer from 0 to 2^32 − 1 (each gives its own stream). */
export function createRandom(seed: number): Random {
  const expand = splitmix32(requireSeed(seed, 'createRandom'))
  let a = expand()
  let b = expand()
  let c = expand()
  let d = expand()
  const nextUint32 = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0
    d = (d + 1) >>> 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) >>> 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) >>> 0
    return t
  }
  const random: Random = {
    next: () => nextUint32() / 0x1_0000_0000,
    int: (min, max) => min + Math.floor(random.next() * (max - min + 1)),
    chance: (p) => p > 0 && random.next() < p,
    pick: (items) => {
      if (items.length === 0) throw new Error('pick() from an empty list')
      return items[random.int(0, items.length - 1)]!
    },
    fork: () => createRandom(nextUint32()),
  }
  return random
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/**
 * Message ids like core's `randomId()` (16 URL-safe characters, 96 bits) but drawn from `random`,
 * so the same seed sends the same ids.
 */
export function seededIds(random: Random): () => string {
  return () => {
    let id = ''
    for (let i = 0; i < 16; i++) id += ID_ALPHABET[random.int(0, ID_ALPHABET.length - 1)]
    return id
  }
}

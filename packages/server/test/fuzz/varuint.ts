/**
 * lib0's unsigned varint (7 bits a byte, least significant first, high bit = more follows), over
 * BigInt. lib0 itself works in JS numbers, which cannot even hold 2^64−1 or 2^53+1; the fuzzer must
 * put those exact values on the wire, and read back whatever a frame holds.
 */

/** The values every varint position is set to (issue 12): edges of 31, 32, 53 and 64 bits. */
export const EXTREME_VALUES: readonly bigint[] = [
  0n,
  1n,
  2n ** 31n,
  2n ** 32n,
  2n ** 53n - 1n,
  2n ** 53n,
  2n ** 63n,
  2n ** 64n - 1n,
]

export function encodeVarUint(value: bigint): Uint8Array {
  if (value < 0n) throw new RangeError('a varuint is not negative')
  const bytes: number[] = []
  let rest = value
  do {
    const low = Number(rest & 0x7fn)
    rest >>= 7n
    bytes.push(rest > 0n ? low | 0x80 : low)
  } while (rest > 0n)
  return Uint8Array.from(bytes)
}

/** Several varuints back to back. */
export const varUints = (...values: (bigint | number)[]): number[] =>
  values.flatMap((value) => [...encodeVarUint(BigInt(value))])

/** lib0's varString: the UTF-8 byte length as a varuint, then the bytes. */
export function varString(text: string): number[] {
  const utf8 = new TextEncoder().encode(text)
  return [...varUints(utf8.length), ...utf8]
}

/** The varuint at `position`: its exact value and where the next field starts. Throws when cut short. */
export function readVarUintAt(bytes: Uint8Array, position: number): { value: bigint; end: number } {
  let value = 0n
  let shift = 0n
  for (let at = position; at < bytes.length; at++) {
    const byte = bytes[at]!
    value |= BigInt(byte & 0x7f) << shift
    if (byte < 0x80) return { value, end: at + 1 }
    shift += 7n
  }
  throw new RangeError(`varuint at ${position} runs past the end`)
}

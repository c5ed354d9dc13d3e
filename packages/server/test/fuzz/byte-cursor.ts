import * as decoding from 'lib0/decoding'
import { readVarUintAt } from './varuint.js'

/** A byte range of an encoded frame, update or state vector. */
export interface Span {
  start: number
  /** Exclusive. */
  end: number
}

/** One varint of an input, where it sits and what it means: a target for structure-aware mutation. */
export interface VarintField extends Span {
  role: string
  value: bigint
}

/** The bytes are not what the walker expected: not a specimen it can take apart. */
export class WalkError extends Error {}

/**
 * Reads lib0 encodings while recording the span of every varint, so that mutators can later set
 * any one of them to any value (the replacement may be longer or shorter than the original).
 */
export interface ByteCursor {
  readonly position: number
  readonly varints: VarintField[]
  varint(role: string): bigint
  /** A varint counting elements of at least one byte each: bounded by what is left to read. */
  count(role: string): number
  byte(): number
  /** A varString or varUint8Array: its length (recorded as `role`), then the bytes. */
  lengthPrefixed(role: string): void
  /** One lib0 `writeAny` value, skipped whole (its inner varints are not mutation targets). */
  any(): void
  atEnd(): boolean
}

export function createCursor(bytes: Uint8Array, start = 0): ByteCursor {
  let position = start
  const varints: VarintField[] = []
  const remaining = () => bytes.length - position
  const varint = (role: string): bigint => {
    let read: { value: bigint; end: number }
    try {
      read = readVarUintAt(bytes, position)
    } catch (error) {
      throw new WalkError((error as Error).message)
    }
    varints.push({ start: position, end: read.end, role, value: read.value })
    position = read.end
    return read.value
  }
  return {
    get position() {
      return position
    },
    varints,
    varint,
    count(role) {
      const value = varint(role)
      if (value > BigInt(remaining())) throw new WalkError(`${role} ${value} exceeds the bytes left`)
      return Number(value)
    },
    byte() {
      if (remaining() < 1) throw new WalkError('cut short')
      return bytes[position++]!
    },
    lengthPrefixed(role) {
      const length = varint(role)
      if (length > BigInt(remaining())) throw new WalkError(`${role} ${length} exceeds the bytes left`)
      position += Number(length)
    },
    any() {
      const decoder = decoding.createDecoder(bytes)
      decoder.pos = position
      try {
        decoding.readAny(decoder)
      } catch (error) {
        throw new WalkError(`an any-value does not decode: ${(error as Error).message}`)
      }
      if (decoder.pos > bytes.length) throw new WalkError('an any-value runs past the end')
      position = decoder.pos
    },
    atEnd: () => remaining() === 0,
  }
}

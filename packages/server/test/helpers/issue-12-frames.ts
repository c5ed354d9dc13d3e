/**
 * Issue 12's reproductions, as the fuzzer found them: frames sent by a member named `mallory`
 * after an honest sync, and updates a fuzz run left in the store.
 */
export const ISSUE_FRAMES = {
  /** A deleted item in her own root of length 2^53−1, then one of 8: Yjs threw mid-transaction. */
  wedgesTheRoom:
    '0002410102a9b62f00210109753a6d616c6c6f7279046d7c6430ffffffffffffff0f210109753a6d616c6c6f7279136d7c64393030373139393235343734303939310800',
  /** Two GC structs of length 2^56−2^54 under a fresh client: a state vector lib0 cannot read back. */
  breaksStockClients: '00021b0102b1d1f9d6030000808080808080806000808080808080806000',
}

/** Each throws "Unexpected case" when applied to a fresh doc. */
export const ISSUE_STORED = [
  '0102bd8e83570000808080ebeff8eb6f0080808080802000',
  '0101bd8e8357808080ebef98ec6f210109753a6d616c6c6f72790e6d7c64656c343978383634376631808080800800',
]

export const fromHex = (hex: string): Uint8Array =>
  Uint8Array.from(hex.match(/../g)!.map((byte) => Number.parseInt(byte, 16)))

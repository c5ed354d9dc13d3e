import type { ConversationIndex } from '@ticks/core'
import type { Store } from '../store/store.js'

/** How many sealed ids a room remembers the authors of (an action's target, looked up once). */
const MAX_REMEMBERED = 10_000

/**
 * Who wrote the sealed messages members act on (issue 17): the write rules ask, synchronously,
 * whether an edit, deletion or reaction names a sealed message and whose it is
 * (`Writer.sealedAuthorOf`); the room's document no longer holds it, so the answer comes from the
 * messages this room saw sealed, then from what the store said before. An id nobody looked up yet
 * is `undefined`: the rules refuse it `unknown-message`, the room looks the ids up
 * (`lookUp`) and judges the update again. Bounded: past `MAX_REMEMBERED` it starts over.
 */
export class SealedAuthors {
  private readonly known = new Map<string, string | null>()

  constructor(
    private readonly store: Store,
    private readonly docId: string,
    private readonly index: ConversationIndex,
  ) {}

  /** A `Writer.sealedAuthorOf` that also collects the ids it could not answer into `misses`. */
  answering(misses: string[]): (messageId: string) => string | null | undefined {
    return (messageId) => {
      if (this.index.sealedThrough === 0) return null
      const held = this.index.history.get(messageId)
      if (held) return held.author
      const known = this.known.get(messageId)
      if (known === undefined) misses.push(messageId)
      return known
    }
  }

  /** Ask the store, and remember its answer (null: no sealed message has that id). */
  async lookUp(messageIds: readonly string[]): Promise<void> {
    const records = await this.store.sealedMessages(this.docId, messageIds)
    if (this.known.size + messageIds.length > MAX_REMEMBERED) this.known.clear()
    for (const id of messageIds) this.known.set(id, null)
    for (const record of records) this.known.set(record.id, record.author)
  }
}

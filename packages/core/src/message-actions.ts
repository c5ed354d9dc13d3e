import type { DeletionRecord, EditRecord } from './schema.js'

/**
 * What members did to messages (issue 17), as the document holds it: each user's latest edit and
 * deletions for everyone (under the author's root), and reactions (one key per user, message and
 * emoji, under the reactor's root). Kept per message id so a change touches one message.
 *
 * Merge rules, all Yjs's own on keys only their writer writes: an edit is last-writer-wins per
 * message between the author's devices (deterministic: Yjs orders concurrent sets by client id);
 * a deletion marker is written once and never removed, and wins over every edit; a reaction is
 * add-wins between one user's devices (a removal deletes only the key it saw, so a concurrent add
 * from another device survives).
 */
export class MessageActions {
  // Each made on first write: most conversations hold no action, and an empty Map still costs
  // ~180 B (a server keeps an index per open room).
  private edits: Map<string, EditRecord> | null = null
  private deletionMarkers: Map<string, DeletionRecord> | null = null
  /** Message id → emoji → users. */
  private reactions: Map<string, Map<string, Set<string>>> | null = null

  editOf(author: string, messageId: string): EditRecord | undefined {
    return this.edits?.get(authored(author, messageId))
  }

  deletionOf(author: string, messageId: string): DeletionRecord | undefined {
    return this.deletionMarkers?.get(authored(author, messageId))
  }

  setEdit(author: string, messageId: string, edit: EditRecord | undefined): void {
    if (edit) {
      this.edits ??= new Map()
      this.edits.set(authored(author, messageId), { text: edit.text, editedAt: edit.editedAt })
    } else this.edits?.delete(authored(author, messageId))
  }

  setDeletion(author: string, messageId: string, deletion: DeletionRecord): void {
    this.deletionMarkers ??= new Map()
    this.deletionMarkers.set(authored(author, messageId), {
      deletedAt: deletion.deletedAt,
      createdAt: deletion.createdAt,
      to: deletion.to,
    })
  }

  setReaction(messageId: string, emoji: string, user: string, on: boolean): void {
    const byEmoji = this.reactions?.get(messageId)
    if (on) {
      if (!byEmoji) {
        this.reactions ??= new Map()
        this.reactions.set(messageId, new Map([[emoji, new Set([user])]]))
        return
      }
      const users = byEmoji.get(emoji) ?? new Set<string>()
      byEmoji.set(emoji, users.add(user))
      return
    }
    const users = byEmoji?.get(emoji)
    if (!users?.delete(user)) return
    if (users.size === 0) byEmoji!.delete(emoji)
    if (byEmoji!.size === 0) this.reactions!.delete(messageId)
  }

  /** Per emoji (sorted), the users who reacted (sorted); undefined when nobody did. */
  reactionsOf(messageId: string): Record<string, string[]> | undefined {
    const byEmoji = this.reactions?.get(messageId)
    if (!byEmoji) return undefined
    const view: Record<string, string[]> = {}
    for (const emoji of [...byEmoji.keys()].sort()) view[emoji] = [...byEmoji.get(emoji)!].sort()
    return view
  }

  /** Every message deleted for everyone: its author and id. */
  *deletions(): IterableIterator<{ author: string; messageId: string }> {
    for (const key of this.deletionMarkers?.keys() ?? []) {
      const space = key.indexOf(' ')
      yield { author: key.slice(0, space), messageId: key.slice(space + 1) }
    }
  }

  /** The emoji `user` keeps on a message. */
  reactionsBy(user: string, messageId: string): string[] {
    const emoji: string[] = []
    for (const [key, users] of this.reactions?.get(messageId) ?? []) if (users.has(user)) emoji.push(key)
    return emoji
  }
}

/** A user and a message id as one key: ids and user ids hold no space. */
const authored = (author: string, messageId: string): string => `${author} ${messageId}`

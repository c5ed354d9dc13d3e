import { writeMuxInboxSubscribe } from '@ticks/core'
import type { InboxChannel, SharedSocket } from './shared-socket.js'

/** One conversation as the user's inbox shows it (the server's feed; see its README). */
export interface InboxEntry {
  id: string
  title: string
  members: Record<string, { role: 'owner' | 'member' | 'observer'; joinedAt: number }>
  lastMessage: {
    id: string
    author: string
    /** '' when it was deleted for everyone (issue 17); the latest edit's text otherwise. */
    text: string
    createdAt: number
    seq?: number
    deleted?: true
  } | null
  updatedAt: number
  /** The highest seq. */
  lastSeq: number
  /** This user's read watermark: every message with seq ≤ readSeq was shown to them. */
  readSeq: number
  /** This user's delivered watermark: a device of theirs integrated every seq ≤ it. */
  deliveredSeq: number
  /** Stamped messages from others above `readSeq` (exact up to 100: "100 or more"). */
  unread: number
  /** Of those, how many mention this user (issue 17); absent when none does. */
  mentions?: number
}

type FeedMessage =
  | { type: 'full'; conversations: InboxEntry[] }
  | { type: 'changed'; conversation: InboxEntry }
  | { type: 'removed'; id: string }

/**
 * The user's conversation list, live: the server sends the whole list when the shared socket
 * opens (again) and each change after, so it needs no polling and loads no conversation.
 */
export class Inbox implements InboxChannel {
  private readonly byId = new Map<string, InboxEntry>()
  private readonly listeners = new Set<() => void>()
  private loaded = false
  private markLoaded!: () => void
  private readonly loadedOnce = new Promise<void>((resolve) => {
    this.markLoaded = resolve
  })

  constructor(private readonly socket: SharedSocket) {}

  /** Newest first. */
  entries(): InboxEntry[] {
    return [...this.byId.values()].sort((a, b) => b.updatedAt - a.updatedAt || (a.id < b.id ? -1 : 1))
  }

  get(conversationId: string): InboxEntry | undefined {
    return this.byId.get(conversationId)
  }

  /** Whether the first full list arrived. */
  get isLoaded(): boolean {
    return this.loaded
  }

  /** Resolves once the first full list arrived. */
  whenLoaded(): Promise<void> {
    return this.loadedOnce
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** @internal the socket opened: ask for the list (again: changes may have been missed meanwhile). */
  opened(): void {
    this.socket.sendRaw(writeMuxInboxSubscribe())
  }

  /** @internal a feed message. */
  message(json: string): void {
    let message: FeedMessage
    try {
      message = JSON.parse(json) as FeedMessage
    } catch {
      return
    }
    if (message.type === 'full') {
      this.byId.clear()
      for (const entry of message.conversations) this.byId.set(entry.id, entry)
      this.loaded = true
      this.markLoaded()
    } else if (message.type === 'changed') this.byId.set(message.conversation.id, message.conversation)
    else if (message.type === 'removed') this.byId.delete(message.id)
    else return
    for (const listener of [...this.listeners]) listener()
  }
}

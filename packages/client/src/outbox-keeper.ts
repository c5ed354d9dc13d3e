import type { LiveConversation } from './live-conversation.js'

/** Where the ids of conversations with unsent messages are kept: survives a reload where it can. */
interface UnsentList {
  ids(): string[]
  add(id: string): void
  remove(id: string): void
}

function unsentList(userId: string): UnsentList {
  const storage = (globalThis as { localStorage?: Storage }).localStorage
  const key = `ticks:unsent:${userId}`
  let memory = new Set<string>()
  const read = (): Set<string> => {
    if (!storage) return memory
    try {
      return new Set(JSON.parse(storage.getItem(key) ?? '[]') as string[])
    } catch {
      return new Set()
    }
  }
  const write = (ids: Set<string>) => {
    if (!storage) {
      memory = ids
      return
    }
    if (ids.size === 0) storage.removeItem(key)
    else storage.setItem(key, JSON.stringify([...ids]))
  }
  return {
    ids: () => [...read()],
    add(id) {
      const ids = read()
      ids.add(id)
      write(ids)
    },
    remove(id) {
      const ids = read()
      if (ids.delete(id)) write(ids)
    },
  }
}

/**
 * Unsent messages go up even when the app no longer shows their conversation (it opens only the
 * chat on screen). A conversation is noted when a message is written there and forgotten once it
 * is let go with nothing pending (in localStorage where there is one, so a reload, or a tab closed
 * with the chat open, keeps the note); `flush()` — at start and back online — opens
 * each noted conversation in the background until nothing written there waits any more (sent,
 * or failed: the user sees why when they open it), then lets it go.
 */
export class OutboxKeeper {
  private readonly unsent: UnsentList
  private readonly busy = new Set<string>()
  private stopped = false

  constructor(
    userId: string,
    private readonly client: { open(id: string): LiveConversation; isOpen(id: string): boolean },
  ) {
    this.unsent = unsentList(userId)
  }

  /** A message was written in a conversation: remember it until nothing there waits. */
  wrote(conversationId: string): void {
    this.unsent.add(conversationId)
  }

  /** A conversation was let go: remember it if it still has messages to send, else forget it. */
  released(conversationId: string, unsent: boolean): void {
    if (unsent) this.unsent.add(conversationId)
    else this.unsent.remove(conversationId)
  }

  /** Send what waits in conversations the app does not hold open. */
  flush(): void {
    for (const id of this.unsent.ids()) {
      if (this.stopped || this.busy.has(id) || this.client.isOpen(id)) continue
      this.busy.add(id)
      void this.send(id).finally(() => this.busy.delete(id))
    }
  }

  stop(): void {
    this.stopped = true
  }

  private async send(id: string): Promise<void> {
    const conversation = this.client.open(id)
    this.unsent.remove(id) // noted again on release if anything is left
    await conversation.whenLoaded()
    await new Promise<void>((resolve) => {
      const settled = () => this.stopped || !conversation.hasUnsent() || conversation.stopped !== undefined
      if (settled()) return resolve()
      const stops = [conversation.onChange(check), conversation.onConnection(check)]
      function check() {
        if (!settled()) return
        for (const stop of stops) stop()
        resolve()
      }
    })
    await conversation.close()
  }
}

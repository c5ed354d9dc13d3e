import type { PubSub } from '../relay/pubsub.js'
import type { ConversationSummary } from '../store/store.js'
import type { RoomLogger } from '../sync/room.js'

type Listener = (summary: ConversationSummary) => void

/** The relay channel every node's hub shares: each summary a node stored, for the others' inboxes. */
const INBOX_CHANNEL = 'ticks:inbox'

/**
 * Who is told when a conversation's summary changes (DESIGN section 11): the inbox feeds of its
 * members, and of whoever showed it before (so a removed member learns it is gone). Every
 * summary a store append carries is published here; with several nodes it also goes through the
 * relay, so a conversation created or changed on another node reaches this node's feeds. The
 * relay is best effort: a feed that missed a change is right again at its next full list (a
 * reconnect), as the summaries in the store are the truth.
 */
export class InboxHub {
  private readonly byUser = new Map<string, Set<Listener>>()
  private readonly byConversation = new Map<string, Set<Listener>>()
  private readonly unsubscribe: Promise<(() => Promise<void>) | undefined>

  constructor(
    private readonly options: {
      relay?: PubSub | undefined
      nodeId?: string | undefined
      log?: RoomLogger
    } = {},
  ) {
    const { relay } = options
    this.unsubscribe = relay
      ? relay
          .subscribe(INBOX_CHANNEL, (message) => this.receive(message))
          .catch((error: unknown) => {
            options.log?.warn({ err: error }, 'inbox: could not subscribe to the relay')
            return undefined
          })
      : Promise.resolve(undefined)
  }

  /** A summary was stored: tell this node's feeds, and the other nodes. */
  publish(summary: ConversationSummary): void {
    this.deliver(summary)
    const { relay, nodeId } = this.options
    if (relay) {
      const message = new TextEncoder().encode(JSON.stringify({ nodeId, summary }))
      void relay.publish(INBOX_CHANNEL, message)
    }
  }

  /** Hear of every conversation `userId` is (or becomes) a member of. */
  subscribeUser(userId: string, listener: Listener): () => void {
    return add(this.byUser, userId, listener)
  }

  /** Hear of one conversation whatever its members (a feed that shows it). */
  watch(conversationId: string, listener: Listener): () => void {
    return add(this.byConversation, conversationId, listener)
  }

  async close(): Promise<void> {
    const unsubscribe = await this.unsubscribe
    await unsubscribe?.().catch(() => undefined)
  }

  private receive(message: Uint8Array): void {
    let parsed: { nodeId?: string; summary?: ConversationSummary }
    try {
      parsed = JSON.parse(new TextDecoder().decode(message))
    } catch {
      return
    }
    if (parsed.nodeId === this.options.nodeId || !parsed.summary?.members) return
    this.deliver(parsed.summary)
  }

  private deliver(summary: ConversationSummary): void {
    const listeners = new Set<Listener>(this.byConversation.get(summary.id))
    for (const userId of Object.keys(summary.members)) {
      for (const listener of this.byUser.get(userId) ?? []) listeners.add(listener)
    }
    for (const listener of listeners) listener(summary)
  }
}

function add(map: Map<string, Set<Listener>>, key: string, listener: Listener): () => void {
  let set = map.get(key)
  if (!set) {
    set = new Set()
    map.set(key, set)
  }
  set.add(listener)
  return () => {
    set.delete(listener)
    if (set.size === 0 && map.get(key) === set) map.delete(key)
  }
}

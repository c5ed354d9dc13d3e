import type { Inbox } from './inbox.js'
import type { LiveConversation } from './live-conversation.js'

export interface BackgroundDeliveryOptions {
  inbox: Inbox
  /** Whether the app holds the conversation open (it then marks delivered by itself). */
  isOpen(conversationId: string): boolean
  open(conversationId: string): LiveConversation
  /** Conversations synced at once (default 4). */
  concurrency?: number
  /** Longest a conversation stays open waiting for its receipt to be stored (default 10 s). */
  timeoutMs?: number
}

/**
 * "Delivered" keeps its meaning for conversations the app has not opened (issue 14): a device of
 * the recipient integrated the message. When the inbox says a conversation holds messages above
 * this user's delivered watermark, it is opened in the background (local copy first, then the
 * server), its automatic receipt is written, and it is let go once the feed shows the receipt
 * stored (or after a timeout). No socket or document stays per conversation. Returns a stop.
 */
export function deliverInBackground(options: BackgroundDeliveryOptions): () => void {
  const { inbox } = options
  const concurrency = options.concurrency ?? 4
  const timeoutMs = options.timeoutMs ?? 10_000
  /** Per conversation, the last seq a background sync was started for: tried once per new message. */
  const attempted = new Map<string, number>()
  const queue: string[] = []
  let running = 0
  let stopped = false

  const consider = () => {
    if (stopped) return
    for (const entry of inbox.entries()) {
      if (entry.lastSeq <= entry.deliveredSeq || options.isOpen(entry.id)) continue
      if ((attempted.get(entry.id) ?? 0) >= entry.lastSeq) continue
      attempted.set(entry.id, entry.lastSeq)
      queue.push(entry.id)
    }
    pump()
  }
  const pump = () => {
    while (!stopped && running < concurrency && queue.length > 0) {
      const id = queue.shift()!
      if (options.isOpen(id)) continue
      running++
      void deliver(id).finally(() => {
        running--
        pump()
      })
    }
  }
  const deliver = async (id: string) => {
    const target = attempted.get(id) ?? 0
    const conversation = options.open(id)
    try {
      await Promise.race([
        (async () => {
          await conversation.whenSynced()
          await new Promise<void>((resolve) => {
            const stored = () => (inbox.get(id)?.deliveredSeq ?? 0) >= target
            if (stored()) return resolve()
            const unsubscribe = inbox.onChange(() => {
              if (!stored()) return
              unsubscribe()
              resolve()
            })
          })
        })(),
        new Promise((resolve) => setTimeout(resolve, timeoutMs)),
      ])
    } finally {
      await conversation.close()
    }
  }

  const unsubscribe = inbox.onChange(consider)
  consider()
  return () => {
    stopped = true
    unsubscribe()
    queue.length = 0
  }
}

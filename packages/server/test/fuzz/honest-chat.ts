import type { Message } from '@ticks/core'
import { type StockClient, stockClient, until } from '../helpers/server.js'
import type { Random } from './random.js'

/**
 * alice and bob: stock y-websocket clients with the Ticks model, chatting throughout the campaign
 * the way the app does (send, delivered, read). Whatever mallory does, they must end up agreeing,
 * with every message they wrote read and sequenced.
 */
export interface HonestWriter {
  userId: 'alice' | 'bob'
  client: StockClient
  /** What this writer sent, in order. */
  sent: { id: string; text: string }[]
}

export interface HonestChat {
  writers: HonestWriter[]
  /** Stop writing; what was sent stays. */
  stop(): void
}

export async function startHonestChat(
  server: { wsUrl: string },
  conversationId: string,
  random: Random,
): Promise<HonestChat> {
  const writers: HonestWriter[] = []
  for (const userId of ['alice', 'bob'] as const) {
    writers.push({ userId, client: await stockClient(server, conversationId, userId), sent: [] })
  }
  await until(() => writers.every((writer) => writer.client.provider.synced), 10_000, 'alice and bob to sync')
  let stopped = false
  let timer: ReturnType<typeof setTimeout> | undefined
  let n = 0
  const tick = () => {
    if (stopped) return
    const writer = random.pick(writers)
    const text = `${writer.userId} ${++n}${random.chance(0.2) ? ` ${'·'.repeat(random.int(400))}` : ''}`
    writer.sent.push({ id: writer.client.conversation.send(text).id, text })
    for (const other of writers) {
      if (random.chance(0.3)) other.client.conversation.markDelivered()
      if (random.chance(0.15)) other.client.conversation.markRead()
    }
    timer = setTimeout(tick, 100 + random.int(300))
  }
  tick()
  return {
    writers,
    stop() {
      stopped = true
      clearTimeout(timer)
    },
  }
}

/** Every message alice and bob wrote, as each of their replicas shows it now. */
export function honestMessages(chat: HonestChat, viewer: HonestWriter): (Message | undefined)[] {
  const shown = new Map(viewer.client.conversation.messages().map((message) => [message.id, message]))
  return chat.writers.flatMap((writer) => writer.sent.map(({ id }) => shown.get(id)))
}

/**
 * The end of the chat: stop writing, wait (bounded) until both replicas show every honest message
 * with a seq, then both read everything. A wait that runs out is for the checks to report.
 */
export async function readEverything(chat: HonestChat, timeoutMs = 10_000): Promise<void> {
  chat.stop()
  const allSequenced = () =>
    chat.writers.every((viewer) =>
      honestMessages(chat, viewer).every((message) => message?.seq !== undefined),
    )
  await until(allSequenced, timeoutMs, 'every honest message to be sequenced').catch(() => {})
  for (const writer of chat.writers) writer.client.conversation.markRead()
}

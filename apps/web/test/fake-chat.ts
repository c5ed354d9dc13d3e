import {
  Conversation,
  type HistoryMessage,
  initConversation,
  type Message,
  newConversationDoc,
  sealThrough,
  stampUnsequenced,
} from '@ticks/core'
import { createSignal } from 'solid-js'
import { createStore, reconcile } from 'solid-js/store'
import type { ChatModel, PresenceEntry } from '../src/chat/chat-model.js'
import { firstUnread } from '../src/chat/unread.js'
import type { ConnectionState } from '../src/components/connection-banner.js'

/**
 * A ChatModel over real core Conversations sharing one document (one per member, as if every
 * device were already in sync), with the server's stamp done by hand. The view under test sees
 * exactly the shapes the app gets from @ticks/solid: a keyed store of messages and signals.
 */
export function createFakeChat(
  members: string[],
  me = members[0]!,
  options: {
    loaded?: boolean
    /** Messages from the second member, stamped and sealed before anyone opens the chat (history). */
    sealed?: number
    /** Of them, how many the window keeps live. */
    window?: number
    /** Messages per older page. */
    pageSize?: number
  } = {},
) {
  const doc = newConversationDoc('c1')
  initConversation(doc, {
    title: 'Team',
    members: Object.fromEntries(members.map((user, i) => [user, i === 0 ? 'owner' : 'member'])),
  })
  // A strictly increasing clock: messages written in the same millisecond would otherwise be ordered
  // (and stamped) by their random ids.
  let clock = Date.now()
  const now = () => ++clock
  const sealedHistory: HistoryMessage[] = []
  if (options.sealed) {
    const writer = new Conversation(doc, { userId: members[1]!, replicaId: 'writer', now })
    for (let i = 1; i <= options.sealed; i++) writer.send(`history ${i}`)
    stampUnsequenced(writer.conversationIndex)
    for (const { record, author, seq } of sealThrough(
      writer.conversationIndex,
      options.sealed - (options.window ?? 0),
    ))
      sealedHistory.push({ ...record, author, seq })
    writer.destroy()
  }
  const as = Object.fromEntries(
    members.map((user) => [user, new Conversation(doc, { userId: user, replicaId: user, now })]),
  )
  const mine = as[me]!
  const [messages, setMessages] = createStore<Message[]>([])
  const [version, setVersion] = createSignal(0)
  const [connection, setConnection] = createSignal<ConnectionState>('synced')
  const [presence, setPresence] = createSignal<Record<string, PresenceEntry>>({})
  const [loaded, setLoaded] = createSignal(options.loaded ?? true)
  const [loadingOlder, setLoadingOlder] = createSignal(false)
  /** Older pages wait for the test to `releaseOlder()`, as a network would. */
  let releaseOlder = () => {}
  const [stopped, setStopped] = createSignal<{ code: number; reason: string }>()
  const calls = { reconnect: 0, retry: [] as string[], typing: [] as boolean[], loadOlder: 0 }
  const tracked = <T>(read: () => T): T => {
    version()
    return read()
  }
  const refresh = () => {
    setMessages(reconcile(mine.messages(), { key: 'id' }))
    setVersion((v) => v + 1)
  }
  mine.onChange(refresh)
  refresh()

  const model: ChatModel = {
    userId: me,
    title: () => tracked(() => mine.title()),
    messages: () => messages,
    members: () => tracked(() => mine.members()),
    connection,
    stopped,
    loaded,
    maxTextBytes: mine.limits.maxTextBytes,
    presence,
    hasOlder: () =>
      tracked(() => (mine.oldestSeq() ?? Number.POSITIVE_INFINITY) > (sealedHistory[0]?.seq ?? 1)),
    loadingOlder,
    loadOlder: async () => {
      setLoadingOlder(true)
      calls.loadOlder++
      await new Promise<void>((resolve) => {
        releaseOlder = resolve
      })
      const oldest = mine.oldestSeq() ?? Number.POSITIVE_INFINITY
      const page = sealedHistory.filter((m) => m.seq < oldest).slice(-(options.pageSize ?? 20))
      mine.addHistory(page)
      setLoadingOlder(false)
      return page.length
    },
    firstUnread: () => tracked(() => firstUnread(mine)),
    receipts: (id) => tracked(() => mine.receipts(id)),
    failureReason: (id) => tracked(() => mine.failureReason(id)),
    send: (text, options) => void mine.send(text, options),
    react: (id, emoji) => void mine.react(id, emoji),
    unreact: (id, emoji) => void mine.unreact(id, emoji),
    edit: (id, text) => void mine.edit(id, text),
    deleteForEveryone: (id) => mine.deleteForEveryone(id),
    retry: (id) => {
      calls.retry.push(id)
      mine.clearFailure(id)
    },
    discard: (id) => mine.discard(id),
    markRead: (id) => void mine.markRead(id),
    setTyping: (typing) => void calls.typing.push(typing),
    reconnect: () => void calls.reconnect++,
  }
  return {
    model,
    as,
    calls,
    setConnection,
    setPresence,
    /** Local storage and the first sync are done (or gave up): the view may pick where to open. */
    setLoaded,
    setStopped,
    /** The older page asked for arrives. */
    releaseOlder: () => releaseOlder(),
    /** The server persisted everything and stamped it. */
    stamp: () => stampUnsequenced(mine.conversationIndex),
  }
}

/** jsdom has no IntersectionObserver: this one reports what the test says is on screen. */
export class FakeIntersectionObserver {
  static instances: FakeIntersectionObserver[] = []
  readonly observed = new Set<Element>()
  constructor(private readonly callback: IntersectionObserverCallback) {
    FakeIntersectionObserver.instances.push(this)
  }
  observe(element: Element) {
    this.observed.add(element)
  }
  unobserve(element: Element) {
    this.observed.delete(element)
  }
  disconnect() {
    this.observed.clear()
  }
  /** Report the messages with these ids as fully on screen, every other observed one as off. */
  show(ids: string[]) {
    const entries = [...this.observed].map((target) => {
      const on = ids.includes((target as HTMLElement).dataset.messageId ?? '')
      return {
        target,
        isIntersecting: on,
        intersectionRatio: on ? 1 : 0,
      } as unknown as IntersectionObserverEntry
    })
    this.callback(entries, this as unknown as IntersectionObserver)
  }
  static latest(): FakeIntersectionObserver {
    return FakeIntersectionObserver.instances[FakeIntersectionObserver.instances.length - 1]!
  }
}

import type { Conversation, HistoryMessage } from '@ticks/core'
import { type HistoryPage, HistoryUnreachableError } from './history-api.js'
import type { HistoryCache } from './history-cache.js'
import { addRange, covers, lowestCovered, type SeqRange } from './seq-ranges.js'

/** The server's largest page. */
export const MAX_HISTORY_PAGE = 200

export interface HistoryPagerSetup {
  conversation: Conversation
  cache: HistoryCache
  /** One page from the server; throws `HistoryUnreachableError` when no server can be reached. */
  fetchPage(before: number, limit: number): Promise<HistoryPage>
}

/**
 * Pages a conversation's sealed history into view (DESIGN section 12): from this device's cache
 * first, then from the server, always contiguous with what is shown, newest page first.
 *
 * "Shown" is what `messages()` holds below the live window (messages this replica held when they
 * were sealed, and pages added here), plus the ranges pages covered: a seq there with no message
 * has none (discarded after its stamp). The next page is the one below the lowest seq reached by
 * walking down from `sealedThrough` through what is shown, so a replica that was offline while
 * thousands were sealed pages through the gap rather than past it.
 */
export class HistoryPager {
  private readonly conversation: Conversation
  private readonly cache: HistoryCache
  private readonly fetchPage: HistoryPagerSetup['fetchPage']
  /** Ranges whose every message has been added to the conversation by this pager. */
  private shownRanges: SeqRange[] = []
  /** The cache's complete ranges, read once and kept up to date by this pager's own writes. */
  private cachedRanges: Promise<SeqRange[]>
  /** How many of the index's history entries have been written to the cache (insertion order). */
  private historyCached = 0
  private historyVersion = -1
  /** Loads run one after the other: each pages on from where the previous one stopped. */
  private queue: Promise<void> = Promise.resolve()
  private addingPage = false
  private closed = false
  private readonly unsubscribe: () => void

  constructor(setup: HistoryPagerSetup) {
    this.conversation = setup.conversation
    this.cache = setup.cache
    this.fetchPage = setup.fetchPage
    this.cachedRanges = this.cache.ranges().catch(() => [])
    this.unsubscribe = this.conversation.onChange(() => this.cacheHeldMessages())
  }

  /**
   * Whether older messages remain to be shown: false once everything down to seq 1 is (or the
   * server said nothing is left). Offline it stays true: the cache or the server may have them.
   */
  hasOlder(): boolean {
    return this.nextBefore() > 1
  }

  /**
   * Show up to `limit` older messages, from the cache if it holds the next ones, else from the
   * server (which then go to the cache). Resolves how many were added: 0 at the beginning of
   * history, or when the next page is neither cached nor reachable (offline). Calls made while one
   * runs wait for it, then page on from there.
   */
  loadOlder(limit: number, { network = true } = {}): Promise<number> {
    const pageSize = Math.min(Math.max(1, Math.floor(limit)), MAX_HISTORY_PAGE)
    const previous = this.queue
    const load = previous.then(() => this.loadUntilSomethingShows(pageSize, network))
    this.queue = load.then(
      () => {},
      () => {},
    )
    return load
  }

  close(): void {
    this.closed = true
    this.unsubscribe()
    this.cache.close()
  }

  /** A page of messages already shown (held when sealed) adds nothing but moves on: go on until something shows. */
  private async loadUntilSomethingShows(limit: number, network: boolean): Promise<number> {
    for (;;) {
      const before = this.nextBefore()
      if (this.closed || before <= 1) return 0
      const step = await this.loadPage(before, limit, network)
      if (step === undefined) return 0 // neither cached nor reachable
      if (step > 0) return step
    }
  }

  /** Added count, or undefined when the page below `before` could not be had. */
  private async loadPage(before: number, limit: number, network: boolean): Promise<number | undefined> {
    const fromCache = await this.pageFromCache(before, limit)
    if (fromCache) return this.show(fromCache.messages, fromCache.range)
    if (!network || this.closed) return undefined
    let page: HistoryPage
    try {
      page = await this.fetchPage(before, limit)
    } catch (cause) {
      if (cause instanceof HistoryUnreachableError) return undefined
      throw cause
    }
    // Fewer than asked: nothing else is sealed below `before`.
    const lowest = page.messages.length < limit ? 1 : page.messages[0]!.seq
    const range = { from: lowest, to: before - 1 }
    this.cachedRanges = this.cachedRanges.then((ranges) => addRange(ranges, range))
    await this.cache.put(page.messages, range).catch(() => {})
    return this.show(page.messages, range)
  }

  /**
   * The cached messages right below `before`, as long as they are contiguous with it (consecutive
   * seqs, or a gap the cache knows to be empty), and the range they cover; undefined if none are.
   */
  private async pageFromCache(
    before: number,
    limit: number,
  ): Promise<{ messages: HistoryMessage[]; range: SeqRange } | undefined> {
    const [cached, complete] = await Promise.all([
      this.cache.below(before, limit).catch(() => []),
      this.cachedRanges,
    ])
    const taken: HistoryMessage[] = []
    let expected = before - 1
    for (const message of cached) {
      if (message.seq !== expected && !covers(complete, message.seq + 1, expected)) break
      taken.push(message)
      expected = message.seq - 1
    }
    // Every cached message below was taken and the rest is known to be empty: the beginning.
    const exhausted = cached.length < limit && taken.length === cached.length
    if (exhausted && covers(complete, 1, expected)) expected = 0
    else if (taken.length === 0) return undefined
    return { messages: taken.reverse(), range: { from: expected + 1, to: before - 1 } }
  }

  private show(messages: HistoryMessage[], range: SeqRange): number {
    if (this.closed) return 0
    const index = this.conversation.conversationIndex
    const added = messages.filter((m) => !index.history.has(m.id) && !index.messages.has(m.id)).length
    this.shownRanges = addRange(this.shownRanges, range)
    // These came from the cache or have just been written to it: not to be cached as held.
    this.addingPage = true
    try {
      this.conversation.addHistory(messages)
    } finally {
      this.addingPage = false
    }
    this.historyCached = index.history.size
    return added
  }

  /** Where the next page ends: every sealed seq from this one up to `sealedThrough` is shown. */
  private nextBefore(): number {
    const sealedThrough = this.conversation.sealedThrough()
    const messages = this.conversation.messages()
    // Sealed messages come first in display order, by seq.
    let last = -1
    while (last + 1 < messages.length && (messages[last + 1]!.seq ?? Infinity) <= sealedThrough) last++
    let expected = this.skipShownRanges(sealedThrough)
    for (let i = last; i >= 0 && expected > 0; i--) {
      const seq = messages[i]!.seq!
      if (seq > expected) continue
      if (seq !== expected) break
      expected = this.skipShownRanges(seq - 1)
    }
    return expected + 1
  }

  private skipShownRanges(seq: number): number {
    return seq > 0 ? lowestCovered(this.shownRanges, seq) - 1 : seq
  }

  /**
   * Messages this replica held when they were sealed leave the document: keep them in the cache,
   * so a reload still shows them without the network.
   */
  private cacheHeldMessages(): void {
    const index = this.conversation.conversationIndex
    if (this.closed || this.addingPage || index.historyVersion === this.historyVersion) return
    this.historyVersion = index.historyVersion
    if (index.history.size <= this.historyCached) return
    const held: HistoryMessage[] = []
    let position = 0
    for (const sealed of index.history.values()) {
      if (position++ < this.historyCached) continue
      const { id, text, createdAt, to } = sealed.record
      const message: HistoryMessage = { id, author: sealed.author, text, createdAt, to, seq: sealed.seq }
      // Sealing took the signature out of the document: the cached copy keeps it (issue 16).
      if (sealed.signature) message.signature = sealed.signature
      held.push(message)
    }
    this.historyCached = index.history.size
    void this.cache.put(held).catch(() => {})
  }
}

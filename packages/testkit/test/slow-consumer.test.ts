import { createServer } from '@ticks/server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WS from 'ws'
import { type ChaosProxy, createChaosProxy } from '../src/index.js'
import {
  convergenceGaps,
  type Fleet,
  type FleetMember,
  markAllRead,
  startFleet,
  summarizeGaps,
} from './helpers/fleet.js'
import { sleep, until } from './helpers/http.js'

/**
 * One client reads its socket slowly (through a chaos proxy that reads 32 KB/s from the server);
 * the others are on loopback. The slow one must not hold the others up, must be dropped by the
 * server once its backlog passes `maxBufferedBytes` (1013), and must catch up by itself once its
 * link is fast again.
 *
 * Delivery latency is measured against a control run: a fresh conversation, the same fast clients,
 * the same messages at the same pace, without the slow client (same document growth, same observer
 * costs; only the slow client differs). Latencies are printed, never asserted: the assertions are
 * structural, so a loaded machine cannot make this flake.
 */
const FAST = 4 // user0 writes; user1…user3 measure delivery
const MAX_BUFFERED_BYTES = 256 * 1024
const SLOW_BYTES_PER_SECOND = 32 * 1024
const TEXT = 'x'.repeat(15_000) // near the 16 KiB bound: few frames, many bytes
/** Every PACE_MS the writer sends PER_TICK messages in one transaction (one frame): ~3 MB/s. */
const PACE_MS = 10
const PER_TICK = 2
/** Sent after the server dropped the slow socket: delivery goes on while it is still behind. */
const AFTER_DROP_MESSAGES = 50
/** Loopback's kernel buffers hold a few MB for a reader that does not read: ~15 MB is plenty. */
const MAX_MESSAGES = 1_000
const SLOW_DROP_LOG = 'closing a slow socket'

const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!

const show = (delays: number[]): string => {
  const sorted = [...delays].sort((a, b) => a - b)
  const ms = (x: number) => `${x.toFixed(1)} ms`
  return `median ${ms(percentile(sorted, 50))}, p99 ${ms(percentile(sorted, 99))}, max ${ms(sorted.at(-1)!)} (${sorted.length} deliveries)`
}

/** When each message was sent, and how long each receiver took to hold it. */
function deliveryClock(receivers: FleetMember[]) {
  const sentAt = new Map<string, number>()
  const delays = new Map<string, number[]>()
  const waiting = receivers.map((member) => {
    const pending = new Set<string>()
    const messages = member.conversation.conversationIndex.messages
    member.conversation.onChange(() => {
      for (const id of pending) {
        if (!messages.has(id)) continue
        pending.delete(id)
        delays.get(id)!.push(performance.now() - sentAt.get(id)!)
      }
    })
    return pending
  })
  return {
    sent(id: string) {
      sentAt.set(id, performance.now())
      delays.set(id, [])
      for (const pending of waiting) pending.add(id)
    },
    outstanding: () => waiting.reduce((sum, pending) => sum + pending.size, 0),
    delaysOf: (ids: string[]) => ids.flatMap((id) => delays.get(id) ?? []),
  }
}

/** user0 of `fleet` sends large messages at a steady pace; user1…user(FAST-1) are timed. */
function trafficOn(fleet: Fleet) {
  const writer = fleet.members[0]!
  const clock = deliveryClock(fleet.members.slice(1, FAST))
  let counter = 0
  return {
    clock,
    /** One tick: PER_TICK messages in one frame, then a pause. */
    async send(): Promise<string[]> {
      const ids: string[] = []
      writer.conversation.doc.transact(() => {
        for (let i = 0; i < PER_TICK; i++) ids.push(writer.conversation.send(`${counter++} ${TEXT}`).id)
      })
      for (const id of ids) clock.sent(id)
      writer.sentIds.push(...ids)
      await sleep(PACE_MS)
      return ids
    },
  }
}

/** Records every state a member leaves `synced` for, from now on. */
function watchSynced(members: FleetMember[]): string[] {
  const left: string[] = []
  for (const member of members) {
    member.conversation.onConnection((state) => {
      if (state !== 'synced') left.push(`${member.userId} ${state}`)
    })
  }
  return left
}

describe('slow consumer: one client reading its socket slowly', () => {
  let app: Awaited<ReturnType<typeof createServer>>
  let port: number
  let slowLink: ChaosProxy
  const fleets: Fleet[] = []
  const logs: string[] = []

  beforeAll(async () => {
    app = await createServer({
      store: 'memory',
      webRoot: false,
      logger: { level: 'warn', stream: { write: (line: string) => logs.push(line) } },
      limits: { maxBufferedBytes: MAX_BUFFERED_BYTES },
    })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const address = app.server.address()
    port = typeof address === 'object' && address ? address.port : 0
    slowLink = await createChaosProxy({ target: port })
  })

  afterAll(async () => {
    for (const fleet of fleets) await fleet.close()
    await slowLink?.close()
    await app?.close()
  })

  const slowClosesOnServer = async (): Promise<number> => {
    const text = (await app.inject({ url: '/metrics' })).body
    const line = text
      .split('\n')
      .find((l) => l.startsWith('ticks_refused_total{close_code="1013",code="slow-consumer"}'))
    return line ? Number(line.split(' ').at(-1)) : 0
  }

  it('does not delay the others, is dropped when too far behind, and recovers by resyncing', async () => {
    const started = Date.now()
    // What the slow client's own sockets saw.
    const slowSockets = { opened: 0, closes: [] as number[] }
    class TrackedWebSocket extends WS {
      constructor(...args: ConstructorParameters<typeof WS>) {
        super(...args)
        this.on('open', () => slowSockets.opened++)
        this.on('close', (code) => slowSockets.closes.push(code))
      }
    }
    slowLink.bandwidth(SLOW_BYTES_PER_SECOND) // from the start: an empty conversation syncs anyway
    const fleet = await startFleet({
      httpBase: `http://127.0.0.1:${port}`,
      url: `ws://127.0.0.1:${port}`,
      size: FAST + 1,
      clientOptions: (_userId, i) =>
        i < FAST
          ? {}
          : {
              url: slowLink.url,
              WebSocket: TrackedWebSocket as unknown as typeof WebSocket,
              // Its own watchdog must not be what ends the slow socket: the server's limit is.
              connection: { silenceTimeoutMs: 60_000, resyncIntervalMs: 5_000 },
            },
    })
    fleets.push(fleet)
    const fast = fleet.members.slice(0, FAST)
    const slow = fleet.members[FAST]!
    await until(
      'every client synced',
      () => fleet.members.every((m) => m.conversation.connection === 'synced'),
      10_000,
    )
    const fastLeftSynced = watchSynced(fast)

    // 1. Steady traffic until the server drops the slow socket, and some more after that.
    const traffic = trafficOn(fleet)
    const sent: string[] = []
    let droppedAt = -1
    while (droppedAt < 0 || sent.length < droppedAt + AFTER_DROP_MESSAGES) {
      if (sent.length >= MAX_MESSAGES)
        throw new Error(`${MAX_MESSAGES} messages (~15 MB) sent and the server never dropped the slow socket`)
      sent.push(...(await traffic.send()))
      if (droppedAt < 0 && logs.some((line) => line.includes(SLOW_DROP_LOG))) droppedAt = sent.length
    }
    await until('the fast clients to hold every message', () => traffic.clock.outstanding() === 0, 10_000)
    const slowBehind = sent.filter((id) => !slow.conversation.conversationIndex.messages.has(id)).length

    // The fast clients hold everything while the slow one is still far behind (it can have read at
    // most 32 KB/s since it joined), and none of them ever left `synced`.
    expect(slowBehind).toBeGreaterThan(AFTER_DROP_MESSAGES)
    expect(fastLeftSynced).toEqual([])
    // The server dropped it as a slow consumer (1013): its metric and its log say so.
    expect(await slowClosesOnServer()).toBeGreaterThanOrEqual(1)
    const dropLog = JSON.parse(logs.find((line) => line.includes(SLOW_DROP_LOG))!) as {
      bufferedAmount: number
    }
    expect(dropLog.bufferedAmount).toBeGreaterThan(MAX_BUFFERED_BYTES)

    // 2. The link is fast again: the slow client finds its socket gone, reconnects by itself and
    //    resyncs every message and every status.
    slowLink.bandwidth(Number.POSITIVE_INFINITY)
    const convergedIn = await until(
      'every client to hold every message as read',
      () => {
        markAllRead(fleet)
        return convergenceGaps(fleet).length === 0
      },
      15_000,
      () =>
        `${summarizeGaps(convergenceGaps(fleet))}\nslow client: ${slow.conversation.connection}, ` +
        `sockets ${JSON.stringify(slowSockets)}, proxy ${JSON.stringify(slowLink.stats())}`,
    )
    expect(slowSockets.opened).toBeGreaterThanOrEqual(2) // it reconnected
    expect(slowSockets.closes.length).toBeGreaterThanOrEqual(1)
    expect(fleet.members.flatMap((m) => m.drops)).toEqual([])
    expect(fastLeftSynced).toEqual([])
    const withSlow = traffic.clock.delaysOf(sent)
    const slowDrops = await slowClosesOnServer()
    await fleet.close()

    // 3. Control: a fresh conversation, the same fast clients and traffic, no slow client.
    const control = await startFleet({
      httpBase: `http://127.0.0.1:${port}`,
      url: `ws://127.0.0.1:${port}`,
      size: FAST,
    })
    fleets.push(control)
    await until(
      'the control clients synced',
      () => control.members.every((m) => m.conversation.connection === 'synced'),
      10_000,
    )
    const controlTraffic = trafficOn(control)
    const controlSent: string[] = []
    while (controlSent.length < sent.length) controlSent.push(...(await controlTraffic.send()))
    await until('the control run delivered', () => controlTraffic.clock.outstanding() === 0, 10_000)
    const without = controlTraffic.clock.delaysOf(controlSent)
    const split = (clock: typeof traffic.clock, ids: string[]) =>
      `messages 1…${droppedAt}: ${show(clock.delaysOf(ids.slice(0, droppedAt)))}; ` +
      `after: ${show(clock.delaysOf(ids.slice(droppedAt)))}`

    console.info(
      `slow consumer: ${sent.length} messages of ${TEXT.length} B, ${PER_TICK} every ${PACE_MS} ms, delivery to ${FAST - 1} fast clients\n` +
        `  without the slow client: ${show(without)}\n` +
        `    ${split(controlTraffic.clock, controlSent)}\n` +
        `  with it:                 ${show(withSlow)}\n` +
        `    ${split(traffic.clock, sent)} (the server dropped it at message ${droppedAt})\n` +
        `  slow client ${slowBehind} of ${sent.length} messages behind when the others had all; ` +
        `server backlog at the drop ${(dropLog.bufferedAmount / 1024).toFixed(0)} KiB (limit ${MAX_BUFFERED_BYTES / 1024} KiB); ` +
        `${slowDrops} slow-consumer drop(s); its sockets: ${slowSockets.opened} opened, closes [${slowSockets.closes.join(', ')}]; ` +
        `converged ${convergedIn} ms after the link healed; whole test ${Date.now() - started} ms`,
    )
  }, 30_000)
})

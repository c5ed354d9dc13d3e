import { createServer } from '@ticks/server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ChaosProxy, createChaosProxy, createRandom } from '../src/index.js'
import {
  applyFault,
  convergenceGaps,
  type Fleet,
  markAllRead,
  randomTraffic,
  startFleet,
  summarizeGaps,
} from './helpers/fleet.js'
import { sleep, until } from './helpers/http.js'

const CLIENTS = 20
const CHAOS_MS = 8_000
const MIN_MESSAGES = 100
const CONVERGE_WITHIN_MS = 20_000
const SEED = Number(process.env.TICKS_CHAOS_SEED ?? 20261123)

describe(`chaos: ${CLIENTS} clients through a misbehaving proxy (seed ${SEED})`, () => {
  let app: Awaited<ReturnType<typeof createServer>>
  let proxy: ChaosProxy
  let fleet: Fleet

  beforeAll(async () => {
    app = await createServer({ store: 'memory', logger: false, webRoot: false })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const address = app.server.address()
    const port = typeof address === 'object' && address ? address.port : 0
    proxy = await createChaosProxy({ target: `ws://127.0.0.1:${port}`, seed: SEED })
    fleet = await startFleet({ httpBase: `http://127.0.0.1:${port}`, url: proxy.url, size: CLIENTS })
  })

  afterAll(async () => {
    await fleet?.close()
    await proxy?.close()
    await app?.close()
  })

  it('loses nothing, never shows a status going down, and converges once the network heals', async () => {
    const random = createRandom(SEED)
    const traffic = randomTraffic(fleet, random.fork(), 'chaos')
    const chaos = random.fork()
    await until(
      'every client synced',
      () => fleet.members.every((m) => m.conversation.connection === 'synced'),
      10_000,
    )

    // Everyone keeps sending and reading on their own clock while the network misbehaves.
    const trafficTimer = setInterval(traffic, 15)
    const faults: Record<string, number> = { cut: 0, blackhole: 0, latency: 0, dropRate: 0 }
    const end = Date.now() + CHAOS_MS
    try {
      // Every kind of fault at least once, then whatever the seed picks.
      const scripted = ['dropRate', 'cut', 'latency', 'blackhole'] as const
      // On a loaded machine the traffic timer fires less often: go on (a bounded while) until
      // enough messages were sent for the checks below to mean something.
      const enough = () => fleet.allSent().length > MIN_MESSAGES
      for (let round = 0; Date.now() < end || (!enough() && Date.now() < end + CHAOS_MS); round++) {
        const fault = scripted[round] ?? chaos.pick(scripted)
        faults[fault]!++
        await applyFault(proxy, fault, chaos, {
          cutMs: [50, 400],
          blackholeMs: [200, 1_500],
          latencyMs: [0, 150],
          jitterMs: [0, 100],
          dropRates: [0.02, 0.05, 0.1],
        })
        await sleep(chaos.int(100, 500))
      }
    } finally {
      clearInterval(trafficTimer)
    }

    // Heal: a clean link from now on.
    proxy.restore()
    proxy.latency(0)
    proxy.dropRate(0)
    const sent = fleet.allSent()
    const healedIn = await until(
      'every client to hold every message as read',
      () => {
        markAllRead(fleet)
        return convergenceGaps(fleet).length === 0
      },
      CONVERGE_WITHIN_MS,
      () =>
        `${summarizeGaps(convergenceGaps(fleet))}\nconnections: ${fleet.members.map((m) => `${m.userId} ${m.conversation.connection}${m.conversation.stopped ? ` (stopped ${m.conversation.stopped.code}: ${m.conversation.stopped.reason})` : ''}`).join(', ')}`,
    )
    const stats = proxy.stats()
    console.info(
      `chaos: ${sent.length} messages from ${CLIENTS} clients; faults ${JSON.stringify(faults)}; ` +
        `proxy ${JSON.stringify(stats)}; converged ${healedIn} ms after heal`,
    )
    expect(faults.cut! + faults.blackhole!).toBeGreaterThan(0)
    expect(sent.length).toBeGreaterThan(MIN_MESSAGES)
    expect(stats.messagesDropped).toBeGreaterThan(0)
    expect(stats.connectionsAccepted).toBeGreaterThan(CLIENTS)
    expect(fleet.members.flatMap((m) => m.drops)).toEqual([])
    // Nothing lost: each sent id is on every client, and all agree on its seq.
    const seqs = new Set(sent.map((id) => fleet.members[0]!.conversation.message(id).seq))
    expect(seqs.size).toBe(sent.length)
  }, 60_000)
})

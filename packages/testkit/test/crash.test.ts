import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRandom } from '../src/index.js'
import {
  convergenceGaps,
  type Fleet,
  markAllRead,
  randomTraffic,
  startFleet,
  summarizeGaps,
} from './helpers/fleet.js'
import { sleep, until } from './helpers/http.js'
import { freePort, serverProcess } from './helpers/server-process.js'

const CLIENTS = 10
const CRASHES = 3
const SEED = Number(process.env.TICKS_CRASH_SEED ?? 7)

describe(`crash: the SQLite server killed with SIGKILL under load (seed ${SEED})`, () => {
  let dataDir: string
  let server: ReturnType<typeof serverProcess>
  let fleet: Fleet

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'ticks-crash-'))
    const port = await freePort()
    server = serverProcess({ port, dataDir })
    await server.start()
    fleet = await startFleet({
      httpBase: `http://127.0.0.1:${port}`,
      url: `ws://127.0.0.1:${port}`,
      size: CLIENTS,
    })
  }, 30_000)

  afterAll(async () => {
    await fleet?.close()
    await server?.kill()
    if (dataDir) await rm(dataDir, { recursive: true, force: true })
  })

  it('keeps every message that was shown as sent, with its seq; clients reconnect by themselves', async () => {
    const random = createRandom(SEED)
    const traffic = randomTraffic(fleet, random.fork(), 'crash')
    // The seq each author saw when its message first became `sent`: it must survive every crash.
    const firstSeq = new Map<string, number>()
    for (const member of fleet.members) {
      member.conversation.onChange(() => {
        for (const message of member.conversation.messages()) {
          if (message.author === member.userId && message.seq !== undefined && !firstSeq.has(message.id))
            firstSeq.set(message.id, message.seq)
        }
      })
    }
    await until(
      'every client synced',
      () => fleet.members.every((m) => m.conversation.connection === 'synced'),
      10_000,
    )
    const timer = setInterval(traffic, 10)
    try {
      for (let crash = 0; crash < CRASHES; crash++) {
        await sleep(random.int(300, 1_200))
        await server.kill()
        await sleep(random.int(100, 500))
        await server.start()
      }
      await sleep(500)
    } finally {
      clearInterval(timer)
    }
    const sentBeforeHeal = firstSeq.size
    await until(
      'every client to hold every message as read after the restarts',
      () => {
        markAllRead(fleet)
        return convergenceGaps(fleet).length === 0
      },
      25_000,
      () =>
        `${summarizeGaps(convergenceGaps(fleet))}\nconnections: ${fleet.members.map((m) => `${m.userId} ${m.conversation.connection}${m.conversation.stopped ? ` (stopped ${m.conversation.stopped.code}: ${m.conversation.stopped.reason})` : ''}`).join(', ')}`,
    )
    console.info(
      `crash: ${fleet.allSent().length} messages, ${sentBeforeHeal} seen as sent before the last restart healed, ${CRASHES} SIGKILLs`,
    )
    expect(sentBeforeHeal).toBeGreaterThan(0)
    const moved = [...firstSeq].filter(([id, seq]) => fleet.members[0]!.conversation.message(id).seq !== seq)
    expect(moved).toEqual([])
    expect(fleet.members.flatMap((m) => m.drops)).toEqual([])
  }, 90_000)
})

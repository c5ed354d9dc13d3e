import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { ConversationIndex, documentProblem } from '@ticks/core'
import * as Y from 'yjs'
import { readMessage } from '../../src/sync/protocol.js'
import { JWT_SECRET, startTestServer, type TestServer, tokenFor } from '../helpers/server.js'
import { SPOOF_MARKER } from './crafted.js'
import { createFindings, type Finding } from './findings.js'
import { forgeFrom } from './forge.js'
import { type HonestChat, readEverything, startHonestChat } from './honest-chat.js'
import { type LinkOutcome, type MalloryLink, openLink } from './mallory-link.js'
import { type EntryRef, frameOf, type Mutant } from './mutate.js'
import { type Planned, planRound } from './plan.js'
import { createRandom } from './random.js'

/**
 * Issue 12's campaign: the real server on SQLite, alice and bob chatting through stock clients,
 * and mallory, a member, sending thousands of hostile frames over raw sockets (see `plan.ts`).
 * Returns what it saw with the server still running, for the checks in `checks.ts`.
 *
 * A finding is server behaviour no input may cause, pinned on the frame that caused it: a close
 * code other than a refusal, no answer, an error logged by the server, an honest client dropped,
 * a valid update refused or a forbidden one taken, or anything the room then sends that a replica
 * cannot hold. Frames go one at a time and each is probed before the next, so the frame that did
 * it is known.
 */
export interface CampaignOptions {
  durationMs: number
  seed: number
  /** Progress and new findings as they come (the soak prints them). */
  log?: (line: string) => void
}

export interface Campaign {
  seed: number
  conversationId: string
  /** The server now serving the conversation (`restart` replaces it). */
  readonly server: TestServer
  chat: HonestChat
  frames: number
  /** How long mallory attacked (the end of the chat and everyone reading come after). */
  attackMs: number
  outcomes: Map<string, number>
  findings: Finding[]
  /** What an admin announced during the campaign (issue 16), by message id: the text. */
  announced: Map<string, string>
  /** Entries of updates the room refused that it must never hold (a batch is all or none). */
  neverApplied: (EntryRef & { label: string })[]
  summary: string
  /** Close the server (it flushes) and start a new one on the same data directory. */
  restart(): Promise<TestServer>
  close(): Promise<void>
}

export type { Finding }

/** Close codes that mean "refused": what any hostile frame may get. */
export const REFUSAL_CODES: ReadonlySet<number> = new Set([4400, 4403, 4413, 4429])

const ANSWER_TIMEOUT_MS = 10_000
const PROGRESS_EVERY_MS = 10_000
/** An admin posts an announcement at the start and then every this many rounds (issue 16). */
const ANNOUNCE_EVERY = 50

export async function runCampaign(options: CampaignOptions): Promise<Campaign> {
  const { seed } = options
  const random = createRandom(seed)
  const log = options.log ?? (() => {})
  const dataDir = mkdtempSync(join(tmpdir(), 'ticks-fuzz-'))
  const serverErrors: string[] = []
  const start = () =>
    startTestServer({
      store: 'sqlite',
      data: dataDir,
      // Errors only: each one during the campaign is a finding (a defect, a quarantine, a failed load).
      logger: {
        level: 'error',
        stream: new Writable({
          write(chunk, _encoding, done) {
            serverErrors.push(String(chunk).trim())
            done()
          },
        }),
      },
    })
  let server = await start()
  let startedChat: HonestChat | undefined
  try {
    const conversationId = await server.conversation('alice', { bob: 'member', mallory: 'member' })
    const chat = await startHonestChat(server, conversationId, createRandom(seed ^ 0x5bd1e995))
    startedChat = chat
    const url = `${server.wsUrl}/sync/${conversationId}?token=${await tokenFor('mallory')}`

    const outcomes = new Map<string, number>()
    const findings = createFindings(log)
    const announced = new Map<string, string>()
    const neverApplied: Campaign['neverApplied'] = []
    const adminToken = await tokenFor('ops', JWT_SECRET, { ticks_admin: true })
    /** An admin's announcement over REST, sequenced into the conversation mallory attacks. */
    const announce = async (round: number) => {
      const text = `Announcement at round ${round}`
      const response = await fetch(`${server.url}/api/announcements`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ text, conversationId }),
      })
      const body = (await response.json()) as { announcements?: { id: string }[] }
      const id = body.announcements?.[0]?.id
      if (response.status !== 201 || id === undefined) {
        find(`an admin's announcement was refused: ${response.status} ${JSON.stringify(body)}`)
        return
      }
      announced.set(id, text)
    }
    let frames = 0
    /** The frame whatever shows up now is pinned on. */
    let current: Mutant = { label: 'opening the first socket', frame: new Uint8Array() }
    const find = (behaviour: string, mutant: Mutant = current) => findings.record(behaviour, mutant)
    const recentlyAccepted: Mutant[] = []
    let standingProblems = new Set<string>()
    const honestCloses = () => chat.writers.reduce((sum, writer) => sum + writer.client.closes.length, 0)

    let mirror = new Y.Doc({ guid: conversationId })
    const usedClients = new Set<number>()
    const freshClient = (): number => {
      for (;;) {
        const client = random.uint32()
        if (!usedClients.has(client) && !mirror.store.clients.has(client)) {
          usedClients.add(client)
          return client
        }
      }
    }
    /** Presence ids mallory must not speak for, and whose they are. */
    const othersPresence = (): Map<bigint, string> => {
      const ids = new Map<bigint, string>(
        chat.writers.map((writer) => [BigInt(writer.client.doc.clientID), writer.userId]),
      )
      const room = sequencerClient(mirror)
      if (room !== undefined) ids.set(room, 'the room')
      return ids
    }
    const planContext = {
      random,
      mirror: () => mirror,
      freshClient,
      othersAwarenessIds: () => [...othersPresence().keys()],
    }

    const hooks = {
      anomaly: (what: string) => find(what),
      awareness: (entries: { client: number; state: string }[]) => {
        for (const { client, state } of entries) {
          const owner = othersPresence().get(BigInt(client))
          if (owner && state.includes(SPOOF_MARKER))
            find(`the room relayed presence mallory forged for ${owner}`)
        }
      },
    }

    let link: MalloryLink | undefined
    /** Her side ends the socket; its close event comes later, so the link is forgotten now. */
    const dropLink = () => {
      link?.terminate()
      link = undefined
    }
    /** Her socket, opened with an honest sync; undefined while the room will not take her. */
    const ensureLink = async (): Promise<MalloryLink | undefined> => {
      if (link && !link.closed) return link
      // What the room shows on a new socket is the doing of the frames it took before.
      const previous = current
      const lastAccepted = recentlyAccepted.at(-1)
      if (lastAccepted) {
        current = {
          ...lastAccepted,
          label: `accepted before: ${recentlyAccepted.map((m) => m.label).join(' | ')}`,
        }
      }
      const opened = await openLink(url, mirror, hooks, ANSWER_TIMEOUT_MS)
      if ('send' in opened) {
        current = previous
        link = opened
        return link
      }
      find(`a member's socket could not sync: ${describe(opened)}`)
      current = previous
      // A replica that broke on what the room sent starts over, as an app would after a reload.
      mirror = new Y.Doc({ guid: conversationId })
      await sleep(500)
      return undefined
    }

    const deliver = async (planned: Planned): Promise<void> => {
      const socket = await ensureLink()
      if (!socket) return
      current = planned
      const closesBefore = honestCloses()
      const errorsBefore = serverErrors.length
      frames++
      let outcome: LinkOutcome
      if (planned.flood) {
        outcome = await socket.flood(Array(planned.flood).fill(planned.frame), ANSWER_TIMEOUT_MS)
        if (outcome.kind !== 'closed' || outcome.code !== 4429) {
          find(`a flood of ${planned.flood} frames was not rate limited (4429): ${describe(outcome)}`)
        }
      } else {
        socket.send(planned.frame)
        outcome = await socket.probe(repliesTo(planned.frame), ANSWER_TIMEOUT_MS)
        judge(planned, outcome)
      }
      outcomes.set(outcomeKey(outcome), (outcomes.get(outcomeKey(outcome)) ?? 0) + 1)
      if (outcome.kind === 'hung') dropLink()
      if (outcome.kind === 'answered') {
        // Pinned on the frame after which a problem first shows; it stays until something repairs it.
        const problems = replicaProblems(mirror)
        for (const problem of problems) if (!standingProblems.has(problem)) find(problem)
        standingProblems = new Set(problems)
        recentlyAccepted.push(planned)
        if (recentlyAccepted.length > 4) recentlyAccepted.shift()
      }
      if (outcome.kind === 'closed' && outcome.code === 4429) await sleep(100) // slow down, as told
      if (outcome.kind === 'closed' && planned.neverApplied) {
        for (const entry of planned.neverApplied) neverApplied.push({ ...entry, label: planned.label })
      }
      for (const line of serverErrors.slice(errorsBefore))
        find(`the server logged an error: ${logMessage(line)}`)
      if (honestCloses() > closesBefore) {
        const closes = chat.writers.flatMap((writer) =>
          writer.client.closes.map((close) => `${writer.userId} ${close.code} ${close.reason}`),
        )
        find(`an honest client was disconnected: ${closes.slice(-2).join('; ')}`)
      }
    }

    const judge = (planned: Planned, outcome: LinkOutcome) => {
      if (outcome.kind === 'hung') find(`no answer and no close within ${ANSWER_TIMEOUT_MS} ms`)
      if (outcome.kind === 'closed') {
        if (!REFUSAL_CODES.has(outcome.code))
          find(`closed with ${outcome.code} (${outcome.reason}), not a refusal code`)
        else if (outcome.reason === '') find(`refused with ${outcome.code} but no reason`)
        if (planned.expect === 'accepted' && outcome.code !== 4429) {
          find(`a valid update of hers was refused: ${outcome.code} ${outcome.reason}`)
        }
      }
      if (outcome.kind === 'answered' && planned.expect === 'refused')
        find('a frame that must be refused was taken')
    }

    /** The end: alice and bob read everything, and so does mallory, honestly, on a new replica. */
    const everyoneReads = async () => {
      current = { label: 'the end of the campaign: everyone reads', frame: new Uint8Array() }
      await readEverything(chat)
      // She is a recipient of every message, and a status is the lowest over its recipients. Her
      // replica syncs after alice's and bob's last messages were stamped.
      const reader = await ensureLink()
      const forge = forgeFrom(mirror, freshClient, 'mallory-reads')
      const receipt = forge.capture('her last read receipt', () => forge.conversation.markRead())
      forge.destroy()
      if (reader && receipt) {
        reader.send(frameOf(receipt))
        const outcome = await reader.probe(1, ANSWER_TIMEOUT_MS)
        if (outcome.kind !== 'answered') find(`her honest read receipt was not taken: ${describe(outcome)}`)
      }
      dropLink()
    }

    // Anything thrown outside a test's own awaits (a stock client choking on a frame) is a finding too.
    const escaped = (error: unknown) =>
      find(`an error escaped in the test process: ${(error as Error)?.stack ?? error}`)
    process.on('uncaughtException', escaped)
    process.on('unhandledRejection', escaped)
    const startedAt = Date.now()
    const deadline = startedAt + options.durationMs
    let nextProgress = startedAt + PROGRESS_EVERY_MS
    let attackMs = 0
    try {
      for (let round = 0; Date.now() < deadline; round++) {
        if (round % ANNOUNCE_EVERY === 0) {
          current = { label: `an admin's announcement at round ${round}`, frame: new Uint8Array() }
          await announce(round)
        }
        for (const planned of planRound(round, planContext)) {
          if (Date.now() >= deadline) break
          await deliver(planned)
        }
        if (Date.now() >= nextProgress) {
          nextProgress += PROGRESS_EVERY_MS
          log(`${Math.round((Date.now() - startedAt) / 1000)} s: ${frames} frames, ${findings.size} findings`)
        }
      }
      attackMs = Date.now() - startedAt
      dropLink()
      await everyoneReads()
    } finally {
      process.off('uncaughtException', escaped)
      process.off('unhandledRejection', escaped)
    }

    const listed = findings.list()
    const tally = [...outcomes]
      .sort()
      .map(([key, n]) => `${key} ${n}`)
      .join(', ')
    const summary =
      `fuzz seed=${seed}: ${frames} hostile frames in ${(attackMs / 1000).toFixed(1)} s ` +
      `(${Math.round(frames / (attackMs / 1000))}/s); ${tally}; ${announced.size} announcements; ` +
      `${neverApplied.length} entries of refused updates watched; findings ${listed.length}`
    return {
      seed,
      conversationId,
      get server() {
        return server
      },
      chat,
      frames,
      attackMs,
      outcomes,
      findings: listed,
      announced,
      neverApplied,
      summary,
      async restart() {
        for (const writer of chat.writers) writer.client.destroy()
        await server.close()
        server = await start()
        return server
      },
      async close() {
        chat.stop()
        for (const writer of chat.writers) writer.client.destroy()
        await server.close()
        rmSync(dataDir, { recursive: true, force: true })
      },
    }
  } catch (error) {
    // Nothing of a campaign that broke half-way may outlive it: sockets, the server, its files.
    startedChat?.stop()
    for (const writer of startedChat?.writers ?? []) writer.client.destroy()
    await server.close()
    rmSync(dataDir, { recursive: true, force: true })
    throw error
  }
}

/**
 * What the room has shown her must be something every replica can hold and use: clocks Yjs can
 * encode, nothing pending, and an order log that a replica loading the document can follow to
 * its end (one that stops at a gap could never mark a later message delivered or read).
 */
function replicaProblems(mirror: Y.Doc): string[] {
  const problems: string[] = []
  const unusable = documentProblem(mirror)
  if (unusable) problems.push(`the room now holds what a replica cannot: ${unusable}`)
  const roots = [...mirror.share.keys()]
    .filter((name) => name.startsWith('u:'))
    .map((name) => mirror.getMap(name))
  const order = mirror.getArray<string>('server').toArray()
  // Cheap first; the model itself decides whether a sequenced message without an entry is a gap.
  if (order.some((id) => !roots.some((root) => root.has(`m|${id}`)))) {
    const loaded = new ConversationIndex(mirror)
    const integrated = loaded.integratedPrefix()
    loaded.destroy()
    if (integrated < order.length) {
      problems.push(
        'a sequenced message was deleted: a replica that loads the conversation now stops at its seq ' +
          'and can never mark a later message delivered or read',
      )
    }
  }
  return problems
}

/** The room's own client id: its sequencer stamped the latest entry of the order log with it. */
function sequencerClient(mirror: Y.Doc): bigint | undefined {
  let item = mirror.getArray('server')._start
  while (item?.right) item = item.right
  return item ? BigInt(item.id.client) : undefined
}

/** How many sync step 2s a frame earns besides the probe's: one when it is a sync step 1 itself. */
function repliesTo(frame: Uint8Array): number {
  try {
    return readMessage(frame).type === 'sync-step-1' ? 2 : 1
  } catch {
    return 1
  }
}

const outcomeKey = (outcome: LinkOutcome): string =>
  outcome.kind === 'closed' ? `closed ${outcome.code}` : outcome.kind === 'answered' ? 'accepted' : 'hung'

const describe = (outcome: LinkOutcome): string =>
  outcome.kind === 'closed' ? `closed ${outcome.code} ${outcome.reason}` : outcome.kind

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The message of a pino JSON line, with its error's. */
function logMessage(line: string): string {
  try {
    const entry = JSON.parse(line) as { msg?: string; err?: { message?: string }; reason?: string }
    return [entry.msg, entry.err?.message, entry.reason].filter(Boolean).join(': ')
  } catch {
    return line.slice(0, 300)
  }
}

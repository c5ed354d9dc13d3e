import { type ClientOptions, createClient, type LiveConversation, type TicksClient } from '@ticks/client'
import { type Status, statusRank } from '@ticks/core'
import WS from 'ws'
import type { ChaosProxy, Random } from '../../src/index.js'
import { newConversation, sessionToken, sleep } from './http.js'

const rank = (status: Status): number => (status === 'failed' ? -1 : statusRank(status))

/** One user's client, with an observer of every status its conversation ever showed. */
export interface FleetMember {
  userId: string
  client: TicksClient
  conversation: LiveConversation
  sentIds: string[]
  /** Status drops this client observed (must stay empty: DESIGN §3, law 2). */
  drops: string[]
  observations: number
}

function observe(member: Omit<FleetMember, 'drops' | 'observations'>): FleetMember {
  // Last status seen per message, and per message and recipient. This runs on every change of
  // every client, so it compares ranks and builds a description only when a drop is seen.
  const lastAggregate = new Map<string, number>()
  const lastByRecipient = new Map<string, Map<string, number>>()
  const observed: FleetMember = { ...member, drops: [], observations: 0 }
  const index = member.conversation.conversationIndex
  const check = (seen: Map<string, number>, key: string, status: Status, what: () => string) => {
    const now = rank(status)
    const previous = seen.get(key)
    if (previous === now) return
    observed.observations++
    if (previous !== undefined && now < previous) observed.drops.push(`${member.userId} saw ${what()}`)
    seen.set(key, now)
  }
  const record = () => {
    for (const message of member.conversation.messages()) {
      check(lastAggregate, message.id, message.status, () => `${message.id} drop to ${message.status}`)
      if (message.seq === undefined) continue
      let seen = lastByRecipient.get(message.id)
      if (!seen) {
        seen = new Map()
        lastByRecipient.set(message.id, seen)
      }
      for (const [user, status] of Object.entries(member.conversation.receipts(message.id))) {
        check(seen, user, status, () => {
          const watermark = index.watermarkOf(user)
          return (
            `${message.id} for ${user} drop to ${status} (seq ${message.seq}, ` +
            `watermark d${watermark.d} r${watermark.r}, log ${index.order.length})`
          )
        })
      }
    }
  }
  member.conversation.onChange(record)
  return observed
}

export interface Fleet {
  conversationId: string
  members: FleetMember[]
  /** Every id any member sent. */
  allSent(): string[]
  close(): Promise<void>
}

/** `size` users in one conversation, each with a @ticks/client connected to `url` (e.g. a chaos proxy). */
export async function startFleet(options: {
  httpBase: string
  url: string
  size: number
  connection?: Record<string, number>
  /** Per-member overrides (another URL, `connect: false`, a wrapped WebSocket…). */
  clientOptions?: (userId: string, index: number) => Partial<ClientOptions>
}): Promise<Fleet> {
  const users = Array.from({ length: options.size }, (_, i) => `user${i}`)
  const tokens = await Promise.all(users.map((user) => sessionToken(options.httpBase, user)))
  const conversationId = await newConversation(options.httpBase, tokens[0]!, users.slice(1))
  const members = users.map((userId, i) => {
    const extra = options.clientOptions?.(userId, i) ?? {}
    const client = createClient({
      url: options.url,
      token: tokens[i]!,
      userId,
      replicaId: `${userId}-dev`,
      persistence: 'none',
      WebSocket: WS as unknown as typeof WebSocket,
      deliveredDelayMs: 20,
      ...extra,
      // Short timers so a black hole is noticed and repaired within the test's budget.
      connection: {
        backoffBaseMs: 50,
        maxBackoffMs: 500,
        resyncIntervalMs: 500,
        silenceTimeoutMs: 2_000,
        ...options.connection,
        ...extra.connection,
      },
    })
    return observe({ userId, client, conversation: client.open(conversationId), sentIds: [] })
  })
  return {
    conversationId,
    members,
    allSent: () => members.flatMap((m) => m.sentIds),
    close: async () => {
      await Promise.all(members.map((m) => m.client.close()))
    },
  }
}

/** Random traffic: each step one member sends or reads. */
export function randomTraffic(fleet: Fleet, random: Random, label: string) {
  let counter = 0
  return () => {
    const member = random.pick(fleet.members)
    if (random.chance(0.6) && member.conversation.members()[member.userId]) {
      member.sentIds.push(member.conversation.send(`${label} ${member.userId} #${counter++}`).id)
    } else {
      member.conversation.markRead()
    }
  }
}

/**
 * What is still missing for full convergence: every member holds every sent message with the same
 * seq, and every message reads `read` (call `markAllRead` while waiting).
 */
export function convergenceGaps(fleet: Fleet): string[] {
  const ids = fleet.allSent()
  const gaps: string[] = []
  const seqs = new Map<string, number>()
  for (const member of fleet.members) {
    for (const id of ids) {
      let message: ReturnType<LiveConversation['message']> | undefined
      try {
        message = member.conversation.message(id)
      } catch {
        gaps.push(`${member.userId} lacks ${id}`)
        continue
      }
      if (message.seq === undefined) {
        gaps.push(`${member.userId}: ${id} has no seq (${message.status})`)
        continue
      }
      const agreed = seqs.get(id)
      if (agreed === undefined) seqs.set(id, message.seq)
      else if (agreed !== message.seq)
        gaps.push(`${member.userId}: ${id} has seq ${message.seq}, others ${agreed}`)
      if (message.status !== 'read') {
        const behind = Object.entries(member.conversation.receipts(id))
          .filter(([, status]) => status !== 'read')
          .map(([user, status]) => `${user} ${status}`)
        gaps.push(`${member.userId}: ${id} is ${message.status} (behind: ${behind.join(', ')})`)
      }
    }
  }
  return gaps
}

export const summarizeGaps = (gaps: string[]): string =>
  `${gaps.length} gaps, e.g.:\n  ${gaps.slice(0, 15).join('\n  ')}`

export const markAllRead = (fleet: Fleet): void => {
  for (const member of fleet.members) member.conversation.markRead()
}

/** The bounds one suite draws its faults from (ms, or bytes per second for a slow link). */
export interface FaultBounds {
  cutMs: [number, number]
  blackholeMs: [number, number]
  latencyMs: [number, number]
  jitterMs: [number, number]
  dropRates: number[]
  /** Only for suites that throttle the link. */
  slowLink?: { bytesPerSecond: number[]; ms: [number, number] }
}

export type Fault = 'cut' | 'blackhole' | 'latency' | 'dropRate' | 'slowLink'

/**
 * One fault on the proxy. Cuts, black holes and slow links last a random while and are lifted
 * before this returns; latency and drop rate stay until the next fault of their kind.
 */
export async function applyFault(proxy: ChaosProxy, fault: Fault, random: Random, bounds: FaultBounds) {
  if (fault === 'cut') {
    proxy.cut()
    await sleep(random.int(...bounds.cutMs))
    proxy.restore()
  } else if (fault === 'blackhole') {
    proxy.blackhole()
    await sleep(random.int(...bounds.blackholeMs))
    proxy.restore()
  } else if (fault === 'latency') {
    proxy.latency(random.int(...bounds.latencyMs), random.int(...bounds.jitterMs))
  } else if (fault === 'dropRate') {
    proxy.dropRate(random.pick(bounds.dropRates))
  } else {
    if (!bounds.slowLink) throw new Error('this suite has no slow-link bounds')
    proxy.bandwidth(random.pick(bounds.slowLink.bytesPerSecond))
    await sleep(random.int(...bounds.slowLink.ms))
    proxy.bandwidth(Number.POSITIVE_INFINITY)
  }
}

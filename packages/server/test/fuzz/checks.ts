import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { stockClient, until } from '../helpers/server.js'
import { SPOOF_MARKER } from './crafted.js'
import type { Campaign } from './driver.js'
import { type HonestWriter, honestMessages } from './honest-chat.js'
import {
  getConversation,
  metric,
  plainEntries,
  type RestMessage,
  restMessages,
  stockCopy,
} from './server-views.js'

/**
 * What must hold after the campaign (issue 12), each a function returning its problems (none: it
 * holds), so the test asserts each one and the soak prints them all. They run in this order; the
 * restart comes last.
 */
export interface Check {
  name: string
  run(campaign: Campaign): Promise<string[]>
}

/** Generous: the process holds vitest, the server, three replicas and the campaign's bookkeeping. */
export const MAX_HEAP_BYTES = 1024 * 1024 * 1024
const SETTLE_MS = 10_000

export const CHECKS: Check[] = [
  {
    name: 'every hostile frame was refused with a refusal code and a reason, or taken harmlessly',
    run: async ({ findings }) =>
      findings.map(
        (finding) =>
          `${finding.behaviour} (×${finding.count}); smallest frame: ${finding.label}; ` +
          `${finding.frameBytes} bytes: ${finding.frameHex}`,
      ),
  },
  {
    name: 'the same server process still serves: /healthz and the conversation answer 200',
    run: async ({ server, conversationId }) => {
      const problems: string[] = []
      const health = await fetch(`${server.url}/healthz`)
      if (health.status !== 200) problems.push(`/healthz answered ${health.status}`)
      const conversation = await getConversation(server, conversationId)
      if (conversation.status !== 200) problems.push(`GET the conversation answered ${conversation.status}`)
      return problems
    },
  },
  {
    name: 'memory stays bounded and the room is still open, with no defect and nobody dropped',
    run: async ({ server, chat }) => {
      const problems: string[] = []
      collectGarbage()
      const { heapUsed } = process.memoryUsage()
      if (heapUsed > MAX_HEAP_BYTES)
        problems.push(`heap ${mib(heapUsed)} after a GC, above ${mib(MAX_HEAP_BYTES)}`)
      const metrics = (await server.app.inject({ url: '/metrics' })).body
      if (!(metric(metrics, 'ticks_rooms') >= 1)) problems.push('no room is open')
      for (const name of [
        'ticks_apply_defects_total',
        'ticks_quarantined_entries_total',
        'ticks_persist_failures_total',
      ]) {
        if (metric(metrics, name) !== 0) problems.push(`${name} is ${metric(metrics, name)}`)
      }
      for (const { userId, client } of chat.writers) {
        if (!client.provider.wsconnected) problems.push(`${userId} is not connected`)
        for (const close of client.closes)
          problems.push(`${userId} was disconnected: ${close.code} ${close.reason}`)
      }
      return problems
    },
  },
  {
    name: 'alice and bob converged: the same messages, every one they wrote sequenced and read',
    run: async ({ chat }) => {
      const problems = () => convergenceProblems(chat.writers, (viewer) => honestMessages(chat, viewer))
      await until(() => problems().length === 0, SETTLE_MS, 'convergence').catch(() => {})
      return problems()
    },
  },
  {
    name: "nobody's entries changed but their own: the title, the members, alice's and bob's roots",
    run: async ({ server, conversationId, chat }) => {
      // Read from what the room serves now, not from a replica that may have missed something.
      const copy = await stockCopy(server, conversationId)
      if (typeof copy === 'string') return [copy]
      const problems: string[] = []
      const meta = copy.getMap('meta')
      if (meta.get('title') !== 'Test') problems.push(`the title is ${JSON.stringify(meta.get('title'))}`)
      const roles = Object.fromEntries(
        [...meta.entries()]
          .filter(([key]) => key.startsWith('member|'))
          .map(([key, member]) => [key.slice('member|'.length), (member as { role?: string }).role]),
      )
      const expected = { alice: 'owner', bob: 'member', mallory: 'member' }
      if (JSON.stringify(sorted(roles)) !== JSON.stringify(expected))
        problems.push(`members are ${JSON.stringify(roles)}`)
      for (const writer of chat.writers) {
        const written = new Map(writer.sent.map((m) => [`m|${m.id}`, m.text]))
        const ownReceipt = `r|${writer.client.conversation.replicaId}`
        for (const [key, value] of copy.getMap<{ text?: string }>(`u:${writer.userId}`).entries()) {
          if (key === ownReceipt) continue
          if (!written.has(key) || written.get(key) !== value.text) {
            problems.push(
              `u:${writer.userId} holds ${key} = ${JSON.stringify(value).slice(0, 80)}, which they never wrote`,
            )
          }
        }
      }
      const order = copy.getArray<string>('server').toArray()
      if (new Set(order).size !== order.length) problems.push('the order log names a message twice')
      const honestIds = new Map(chat.writers.map((writer) => [writer.client.doc.clientID, writer.userId]))
      for (const { userId, client } of chat.writers) {
        for (const [id, state] of client.provider.awareness.getStates()) {
          if (honestIds.has(id) && JSON.stringify(state).includes(SPOOF_MARKER)) {
            problems.push(`${userId} shows mallory's forged presence as ${honestIds.get(id)}'s`)
          }
        }
      }
      return problems
    },
  },
  {
    name: "announcements are the admin's alone, and nothing of a refused update landed (a batch is all or none)",
    run: async ({ server, conversationId, chat, announced, neverApplied }) => {
      const copy = await stockCopy(server, conversationId)
      if (typeof copy === 'string') return [copy]
      const problems: string[] = []
      if (announced.size === 0)
        problems.push('the admin announced nothing: the campaign did not run its announcements')
      // Sealing may move old ones out of the live window: every one held must be the admin's, as posted.
      for (const [key, value] of copy.getMap<{ text?: string }>('system').entries()) {
        const id = key.slice('m|'.length)
        if (!key.startsWith('m|') || announced.get(id) !== value.text)
          problems.push(
            `the system root holds ${key} = ${JSON.stringify(value).slice(0, 80)}, which no admin posted`,
          )
      }
      if (copy.share.has('u::system')) problems.push("a ':system' user root exists")
      for (const { userId, client } of chat.writers) {
        for (const message of client.conversation.messages()) {
          if (message.announcement && announced.get(message.id) !== message.text)
            problems.push(`${userId} shows ${message.id} as an announcement no admin posted`)
        }
      }
      for (const { root, key, label } of neverApplied) {
        if (copy.getMap(root).has(key))
          problems.push(`${root}/${key} of a refused update (${label}) was applied`)
      }
      return problems
    },
  },
  {
    name: 'a fresh stock y-websocket client syncs, re-encodes what it got and holds what alice holds',
    run: async ({ server, conversationId, chat }) => {
      const copy = await stockCopy(server, conversationId)
      if (typeof copy === 'string') return [copy]
      const alice = chat.writers[0]!.client.doc
      const problems: string[] = []
      const held = plainEntries(copy)
      await until(() => plainEntries(alice) === held, SETTLE_MS, 'alice to hold what the server holds').catch(
        () => problems.push('the fresh copy and alice hold different messages or order logs'),
      )
      return problems
    },
  },
  {
    // A replica that loads the document (a new device, a cleared cache) must be able to mark read
    // what arrives next: one that stops at a gap in the order log never raises its receipts again.
    name: "a new device of bob's loads the conversation and marks alice's next message read",
    run: async ({ server, conversationId, chat }) => {
      const alice = chat.writers.find((writer) => writer.userId === 'alice')!
      const device = await stockClient(server, conversationId, 'bob')
      try {
        const next = alice.client.conversation.send('after the campaign')
        alice.sent.push({ id: next.id, text: next.text })
        const stamped = () =>
          device.conversation.messages().some((m) => m.id === next.id && m.seq !== undefined)
        await until(() => device.provider.synced && stamped(), SETTLE_MS, 'the device to get it')
        device.conversation.markRead()
        await until(
          () => alice.client.conversation.receipts(next.id).bob === 'read',
          SETTLE_MS,
          'the read receipt',
        )
        return []
      } catch (error) {
        const index = device.conversation.conversationIndex
        return [
          `${(error as Error).message}: the device integrated ${index.integratedPrefix()} of ` +
            `${device.doc.getArray('server').length} sequenced messages; alice sees ${JSON.stringify(
              alice.client.conversation.receipts(alice.sent.at(-1)!.id),
            )}`,
        ]
      } finally {
        device.destroy()
      }
    },
  },
  {
    name: 'after a restart on the same data, the conversation loads and holds exactly what was written',
    run: async (campaign) => {
      const { conversationId, chat } = campaign
      const problems: string[] = []
      const before = await restMessages(campaign.server, conversationId)
      if (typeof before === 'string') return [`before the restart: ${before}`]
      const honestBefore = honestRecords(chat.writers[0]!, chat)
      const copyBefore = await stockCopy(campaign.server, conversationId)
      const server = await campaign.restart()
      const after = await restMessages(server, conversationId)
      if (typeof after === 'string') return [`after the restart: ${after}`]
      if (JSON.stringify(after) !== JSON.stringify(before)) {
        problems.push(`the messages differ across the restart: ${diffSummary(before, after)}`)
      }
      const honestAfter = after.filter((m) => m.author === 'alice' || m.author === 'bob')
      const sent = JSON.stringify(honestBefore.map(({ id, text, seq }) => ({ id, text, seq })))
      if (JSON.stringify(honestAfter.map(({ id, text, seq }) => ({ id, text, seq }))) !== sent) {
        problems.push(
          `alice's and bob's messages after the restart are not what they wrote: ${diffSummary(honestBefore, honestAfter)}`,
        )
      }
      const copyAfter = await stockCopy(server, conversationId)
      if (typeof copyAfter === 'string') problems.push(copyAfter)
      else if (typeof copyBefore !== 'string' && plainEntries(copyAfter) !== plainEntries(copyBefore)) {
        problems.push('a stock client gets different messages after the restart')
      }
      const metrics = (await server.app.inject({ url: '/metrics' })).body
      if (metric(metrics, 'ticks_quarantined_entries_total') !== 0) {
        problems.push(
          `loading quarantined ${metric(metrics, 'ticks_quarantined_entries_total')} stored entries`,
        )
      }
      return problems
    },
  },
]

/** Both replicas show the same list, and every honest message is there, sequenced and read. */
function convergenceProblems(
  writers: HonestWriter[],
  honest: (viewer: HonestWriter) => ReturnType<typeof honestMessages>,
): string[] {
  const problems: string[] = []
  const lists = writers.map((writer) =>
    JSON.stringify(
      writer.client.conversation
        .messages()
        .map(({ id, author, text, seq, status }) => ({ id, author, text, seq, status })),
    ),
  )
  if (new Set(lists).size > 1) problems.push('alice and bob show different message lists')
  for (const viewer of writers) {
    const messages = honest(viewer)
    const missing = messages.filter((m) => m === undefined).length
    const unsequenced = messages.filter((m) => m && m.seq === undefined).length
    const unread = messages.filter((m) => m && m.status !== 'read')
    if (missing) problems.push(`${viewer.userId} lacks ${missing} of ${messages.length} honest messages`)
    if (unsequenced) problems.push(`${viewer.userId} shows ${unsequenced} honest messages without a seq`)
    if (unread.length) {
      const sample = unread
        .slice(0, 3)
        .map((m) => `${m!.id}: ${m!.status} ${JSON.stringify(viewer.client.conversation.receipts(m!.id))}`)
      problems.push(
        `${viewer.userId} shows ${unread.length} honest messages not read, e.g. ${sample.join('; ')}`,
      )
    }
  }
  return problems
}

/** What alice's replica shows of alice's and bob's messages, in display order. */
function honestRecords(viewer: HonestWriter, chat: Campaign['chat']): RestMessage[] {
  const honestIds = new Set(chat.writers.flatMap((writer) => writer.sent.map((m) => m.id)))
  return viewer.client.conversation
    .messages()
    .filter((m) => honestIds.has(m.id))
    .map(({ id, author, text, seq }) => ({ id, author, text, seq }))
}

function diffSummary(before: RestMessage[], after: RestMessage[]): string {
  const key = (m: RestMessage) => JSON.stringify(m)
  const was = new Set(before.map(key))
  const is = new Set(after.map(key))
  const lost = before.filter((m) => !is.has(key(m)))
  const gained = after.filter((m) => !was.has(key(m)))
  return `${before.length} → ${after.length} messages; missing ${JSON.stringify(lost.slice(0, 3))}; unexpected ${JSON.stringify(gained.slice(0, 3))}`
}

/** A full GC before measuring, even when node was not started with --expose-gc. */
function collectGarbage(): void {
  let gc = (globalThis as { gc?: () => void }).gc
  if (!gc) {
    setFlagsFromString('--expose-gc')
    gc = runInNewContext('gc') as () => void
  }
  gc()
}

const mib = (bytes: number) => `${Math.round(bytes / 1024 / 1024)} MiB`

const sorted = (record: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)))

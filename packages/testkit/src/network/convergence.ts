import type { Conversation, Role, Status } from '@ticks/core'
import { statusRank } from '@ticks/core'
import type { StatusObservation } from './status-observer.js'

/** What one replica shows: the facts that must agree everywhere once everyone synced. */
export interface ConversationView {
  name: string
  title: string
  /** Role by user id. */
  members: Record<string, Role>
  messages: MessageView[]
}

export interface MessageView {
  id: string
  author: string
  text: string
  seq: number | undefined
  status: Status
  receipts: Record<string, Status>
}

export function viewOf(name: string, conversation: Conversation): ConversationView {
  return {
    name,
    title: conversation.title(),
    members: Object.fromEntries(
      Object.entries(conversation.members()).map(([user, { role }]) => [user, role]),
    ),
    messages: conversation.messages().map((message) => ({
      id: message.id,
      author: message.author,
      text: message.text,
      seq: message.seq,
      status: message.status,
      receipts: message.seq === undefined ? {} : conversation.receipts(message.id),
    })),
  }
}

const describeMessage = (message: MessageView): string =>
  `message ${JSON.stringify(message.text)} (id ${message.id}, by ${message.author})`

const receiptsText = (receipts: Record<string, Status>): string =>
  Object.entries(receipts)
    .map(([user, status]) => `${user}: ${status}`)
    .join(', ') || 'none'

/**
 * Every difference between `reference` (the server) and the replicas, one line each, grouped by
 * message: which replica, which message, which field, both values. Empty when all agree.
 */
export function convergenceDiff(reference: ConversationView, replicas: ConversationView[]): string[] {
  const lines: string[] = []
  const referenceOrder = reference.messages.map((m) => m.id).join(',')
  for (const replica of replicas) {
    lines.push(...metaDiff(reference, replica))
    const linesBefore = lines.length
    const byId = new Map(replica.messages.map((m) => [m.id, m]))
    for (const expected of reference.messages) {
      const actual = byId.get(expected.id)
      byId.delete(expected.id)
      const where = `${describeMessage(expected)}: ${replica.name}`
      if (!actual) {
        lines.push(`${where} does not have it (${reference.name} has seq ${expected.seq ?? 'none'})`)
        continue
      }
      if (actual.seq !== expected.seq)
        lines.push(
          `${where} has seq ${actual.seq ?? 'none'}, ${reference.name} has ${expected.seq ?? 'none'}`,
        )
      if (actual.status !== expected.status)
        lines.push(`${where} shows status ${actual.status}, ${reference.name} ${expected.status}`)
      if (receiptsText(actual.receipts) !== receiptsText(expected.receipts)) {
        lines.push(
          `${where} shows receipts {${receiptsText(actual.receipts)}}, ${reference.name} {${receiptsText(expected.receipts)}}`,
        )
      }
    }
    for (const extra of byId.values()) {
      lines.push(`${describeMessage(extra)}: ${replica.name} has it, ${reference.name} does not`)
    }
    const order = replica.messages.map((m) => m.id).join(',')
    // Only when every message agrees: otherwise the order line just repeats what is missing.
    if (lines.length === linesBefore && order !== referenceOrder) {
      lines.push(`${replica.name} shows the messages in a different order than ${reference.name}`)
    }
  }
  return lines
}

/** The title and the member list: who may write, and to whom each message goes. */
function metaDiff(reference: ConversationView, replica: ConversationView): string[] {
  const lines: string[] = []
  if (replica.title !== reference.title) {
    lines.push(
      `${replica.name} shows title ${JSON.stringify(replica.title)}, ${reference.name} ${JSON.stringify(reference.title)}`,
    )
  }
  const users = [...new Set([...Object.keys(reference.members), ...Object.keys(replica.members)])].sort()
  for (const user of users) {
    const mine = replica.members[user] ?? 'not a member'
    const theirs = reference.members[user] ?? 'not a member'
    if (mine !== theirs)
      lines.push(`member ${user}: ${replica.name} shows ${mine}, ${reference.name} ${theirs}`)
  }
  return lines
}

/**
 * Law 1, second half: once converged, each status must be the highest any replica ever showed
 * (merge is max; nothing a replica saw may be lost in the merge).
 */
export function belowObservedMax(reference: ConversationView, history: StatusObservation[]): string[] {
  const highest = new Map<string, StatusObservation>()
  for (const observation of history) {
    if (observation.status === 'failed') continue
    const key = `${observation.messageId}\u0000${observation.recipient ?? ''}`
    const previous = highest.get(key)
    if (!previous || statusRank(observation.status) > statusRank(previous.status as never)) {
      highest.set(key, observation)
    }
  }
  const lines: string[] = []
  for (const message of reference.messages) {
    const check = (recipient: string | undefined, final: Status) => {
      const seen = highest.get(`${message.id}\u0000${recipient ?? ''}`)
      if (!seen || final === 'failed' || seen.status === 'failed') return
      if (statusRank(final) < statusRank(seen.status)) {
        lines.push(
          `${describeMessage(message)}${recipient ? ` for ${recipient}` : ''}: converged to ${final}, but ${seen.replica} showed ${seen.status} at t=${seen.time}ms`,
        )
      }
    }
    check(undefined, message.status)
    for (const [recipient, status] of Object.entries(message.receipts)) check(recipient, status)
  }
  return lines
}

import { type Conversation, type Status, statusRank } from '@ticks/core'

/** One status a replica observed, recorded when it changed. `recipient` is absent for the aggregate. */
export interface StatusObservation {
  /** Simulated ms. */
  time: number
  replica: string
  messageId: string
  text: string
  recipient?: string
  status: Status
}

export interface LawViolation {
  law: 'monotonic' | 'sent-is-durable' | 'delivered-is-integrated' | 'converges-to-max'
  message: string
}

const rank = (status: Status): number => (status === 'failed' ? -1 : statusRank(status))

/**
 * Follows one replica's conversation and records every status change it shows, for the message
 * as a whole and per recipient. Checks, at the moment of observation, the laws that can be checked
 * locally: no status goes down; `sent` only once the stamp is durable; `delivered`/`read` for a
 * recipient only once one of that recipient's replicas really holds the message.
 */
export class StatusObserver {
  private readonly last = new Map<string, Status>()

  constructor(
    private readonly replica: string,
    private readonly conversation: Conversation,
    private readonly clock: () => number,
    private readonly history: StatusObservation[],
    private readonly violations: LawViolation[],
    private readonly durableSeq: (messageId: string) => number | undefined,
    private readonly holdsMessage: (userId: string, messageId: string) => boolean,
  ) {}

  /** Look at every message now; call after anything changed the replica's document. */
  observe(): void {
    for (const message of this.conversation.messages()) {
      this.record(message.id, message.text, undefined, message.status, message.seq)
      if (message.seq === undefined) continue
      const receipts = this.conversation.receipts(message.id)
      for (const [recipient, status] of Object.entries(receipts)) {
        this.record(message.id, message.text, recipient, status, message.seq)
      }
    }
  }

  private record(
    messageId: string,
    text: string,
    recipient: string | undefined,
    status: Status,
    seq: number | undefined,
  ): void {
    const key = recipient === undefined ? messageId : `${messageId}\u0000${recipient}`
    const previous = this.last.get(key)
    if (previous === status) return
    this.last.set(key, status)
    const time = this.clock()
    const observation: StatusObservation = { time, replica: this.replica, messageId, text, status }
    if (recipient !== undefined) observation.recipient = recipient
    this.history.push(observation)
    const who = `${this.replica} at t=${time}ms, message ${JSON.stringify(text)} (${messageId})${recipient ? ` for ${recipient}` : ''}`
    if (previous !== undefined && rank(status) < rank(previous)) {
      this.violations.push({ law: 'monotonic', message: `${who}: status went down ${previous} → ${status}` })
    }
    if (previous === undefined || rank(previous) < rank('sent')) {
      if (rank(status) >= rank('sent') && seq !== undefined && this.durableSeq(messageId) !== seq) {
        this.violations.push({
          law: 'sent-is-durable',
          message: `${who}: shown as ${status} with seq ${seq}, but the store holds seq ${this.durableSeq(messageId) ?? 'none'}`,
        })
      }
    }
    if (
      recipient !== undefined &&
      rank(status) >= rank('delivered') &&
      !this.holdsMessage(recipient, messageId)
    ) {
      this.violations.push({
        law: 'delivered-is-integrated',
        message: `${who}: shown as ${status}, but no replica of ${recipient} holds the message`,
      })
    }
  }
}

import type {
  ConnectionState,
  ConnectionStop,
  LiveConversation,
  PresenceState,
  TicksClient,
} from '@ticks/client'
import type { Member, Message, SendOptions, Status, VerifiableMessage, Verification } from '@ticks/core'
import { batch, getOwner, onCleanup } from 'solid-js'
import { createStore, reconcile } from 'solid-js/store'
import { createVerification } from './create-verification.js'

/** A live conversation as Solid state: read it in JSX and only what changed re-renders. */
export interface ConversationState {
  /** The underlying live conversation, for anything this primitive does not wrap. */
  readonly conversation: LiveConversation
  /**
   * Messages in display order, a store reconciled by id: a status change updates one field of one
   * element, so only the bubble that reads it re-renders, and `<For>` keeps every row.
   */
  readonly messages: Message[]
  readonly connection: ConnectionState
  /** Why the connection stopped retrying (4401/4403/4404 or a refused write). */
  readonly stopped: ConnectionStop | undefined
  readonly title: string
  readonly members: Record<string, Member>
  /** Per user, merged over their devices: online, typing. */
  readonly presence: Record<string, PresenceState>
  /** Whether every local write is on this device's disk (false without persistence). */
  readonly outboxOnDisk: boolean
  /** Whether older messages remain in the sealed history (DESIGN section 12); reactive. */
  readonly hasOlder: boolean
  /** Whether `loadOlder` is under way; reactive. */
  readonly loadingOlder: boolean
  /** Per-recipient statuses of a message ("read by 3 of 5"); reactive. */
  receipts(messageId: string): Record<string, Status>
  /** Why a `failed` message was refused; reactive. */
  failureReason(messageId: string): string | undefined
  /**
   * Whether a message is its author's: `verified`, `unverified`, `unknown-key`, or `checking`
   * (signed messages); reactive, verified only for what reads it.
   */
  verification(message: VerifiableMessage): Verification
  /** Send a message; `replyTo` names the message it answers (issue 17). */
  send(text: string, options?: SendOptions): Message
  /** Message actions (issue 17); refusals throw the model's `TicksError` (`not-owner`, `deleted`, …). */
  react(messageId: string, emoji: string): boolean
  unreact(messageId: string, emoji: string): boolean
  edit(messageId: string, text: string): Message
  deleteForEveryone(messageId: string): void
  markRead(upToMessageId?: string): void
  retry(messageId: string): void
  discard(messageId: string): void
  setTyping(typing: boolean): void
  reconnect(): void
  /**
   * Show up to `limit` older messages (the client's `loadOlder`: cache first, then the server).
   * Resolves how many were added; 0 at the beginning, or offline with nothing cached.
   */
  loadOlder(limit?: number): Promise<number>
  /** Release the conversation; done by itself when the calling owner (component, root) is disposed. */
  close(): Promise<void>
}

interface Details {
  receipts: Record<string, Status>
  failureReason: string | undefined
}

interface Snapshot {
  messages: Message[]
  connection: ConnectionState
  stopped: ConnectionStop | undefined
  title: string
  members: Record<string, Member>
  presence: Record<string, PresenceState>
  outboxOnDisk: boolean
  hasOlder: boolean
  loadingOlder: boolean
}

/**
 * Open `conversationId` on `client` for the lifetime of the calling owner. State lives here, in
 * one store; components only render it.
 */
export function createConversation(
  client: Pick<TicksClient, 'open'>,
  conversationId: string,
): ConversationState {
  const conversation = client.open(conversationId)
  const [state, setState] = createStore<Snapshot>({
    messages: [],
    connection: conversation.connection,
    stopped: conversation.stopped,
    title: '',
    members: {},
    presence: conversation.presence(),
    outboxOnDisk: conversation.outboxOnDisk(),
    hasOlder: conversation.hasOlder(),
    loadingOlder: false,
  })
  // Per-message details that are not fields of the message (receipts, failure reasons), kept in
  // a store for the messages something has read them for (the bubbles on screen), and reconciled
  // on every change: a receipt raise re-renders the bubbles whose receipts moved, not every one.
  const [details, setDetails] = createStore<Record<string, Details | undefined>>({})
  const watched = new Set<string>()
  const detailsOf = (messageId: string): Details | undefined => {
    try {
      return {
        receipts: conversation.receipts(messageId),
        failureReason: conversation.failureReason(messageId),
      }
    } catch {
      return undefined // discarded meanwhile
    }
  }
  const watch = (messageId: string): Details | undefined => {
    if (!watched.has(messageId)) {
      watched.add(messageId)
      setDetails(messageId, detailsOf(messageId))
    }
    return details[messageId]
  }

  const readModel = () => {
    batch(() => {
      setState('messages', reconcile(conversation.messages(), { key: 'id' }))
      setState('title', conversation.title())
      setState('members', reconcile(conversation.members()))
      setState('hasOlder', conversation.hasOlder())
      for (const messageId of watched) {
        const next = detailsOf(messageId)
        if (next) setDetails(messageId, reconcile(next))
        else {
          watched.delete(messageId)
          setDetails(messageId, undefined)
        }
      }
    })
  }
  readModel()
  const unsubscribe = [
    conversation.onChange(readModel),
    conversation.onConnection((connection) => {
      setState('connection', connection)
      setState('stopped', conversation.stopped)
    }),
    conversation.onPresence(() => setState('presence', reconcile(conversation.presence()))),
    conversation.onPersistence(() => setState('outboxOnDisk', conversation.outboxOnDisk())),
  ]
  const verifications = createVerification(conversation)
  unsubscribe.push(verifications.stop)

  let closed: Promise<void> | undefined
  const close = () => {
    if (!closed) {
      for (const stop of unsubscribe) stop()
      closed = conversation.close()
    }
    return closed
  }
  if (getOwner()) onCleanup(() => void close())

  const loadOlder = async (limit?: number) => {
    setState('loadingOlder', true)
    try {
      return await conversation.loadOlder(limit)
    } finally {
      // A page of messages already shown adds nothing the model reports, yet may end history.
      batch(() => {
        setState('loadingOlder', false)
        setState('hasOlder', conversation.hasOlder())
      })
    }
  }

  return {
    conversation,
    get messages() {
      return state.messages
    },
    get connection() {
      return state.connection
    },
    get stopped() {
      return state.stopped
    },
    get title() {
      return state.title
    },
    get members() {
      return state.members
    },
    get presence() {
      return state.presence
    },
    get outboxOnDisk() {
      return state.outboxOnDisk
    },
    get hasOlder() {
      return state.hasOlder
    },
    get loadingOlder() {
      return state.loadingOlder
    },
    receipts(messageId) {
      const watchedDetails = watch(messageId)
      // Unknown here: the model's own error (a typed TicksError) says why.
      return watchedDetails ? watchedDetails.receipts : conversation.receipts(messageId)
    },
    failureReason(messageId) {
      return watch(messageId)?.failureReason
    },
    verification: (message) => verifications.verification(message),
    send: (text, options) => conversation.send(text, options),
    react: (messageId, emoji) => conversation.react(messageId, emoji),
    unreact: (messageId, emoji) => conversation.unreact(messageId, emoji),
    edit: (messageId, text) => conversation.edit(messageId, text),
    deleteForEveryone: (messageId) => conversation.deleteForEveryone(messageId),
    markRead: (upToMessageId) => void conversation.markRead(upToMessageId),
    retry: (messageId) => conversation.retry(messageId),
    discard: (messageId) => conversation.discard(messageId),
    setTyping: (typing) => conversation.setTyping(typing),
    reconnect: () => conversation.reconnect(),
    loadOlder,
    close,
  }
}

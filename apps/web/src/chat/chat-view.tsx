import type { Message, TicksError } from '@ticks/core'
import { createEffect, createMemo, createSignal, Match, on, onCleanup, Show, Switch, untrack } from 'solid-js'
import { Composer, type ComposerHandle } from '../components/composer.js'
import { ComposerContext } from '../components/composer-context.js'
import { ConfirmDialog } from '../components/confirm-dialog.js'
import { ConnectionBanner } from '../components/connection-banner.js'
import { initialOf } from '../components/initial.js'
import { type BubbleActions, MessageBubble } from '../components/message-bubble.js'
import { NewMessagesPill } from '../components/new-messages-pill.js'
import { PresenceLine } from '../components/presence-line.js'
import { SignInAgainButton } from '../components/sign-in-again-button.js'
import { VirtualList, type VirtualListHandle } from '../components/virtual-list.js'
import { actionErrorText, type ChatAction, isTicksError } from './action-errors.js'
import type { ChatModel } from './chat-model.js'
import { createVisibleMessages } from './read-tracker.js'
import { defaultNameOf, type NameOf } from './status-text.js'
import { StatusClock } from './status-times.js'

export interface ChatViewProps {
  conversationId: string
  model: ChatModel
  nameOf?: NameOf
  /** navigator.onLine, as a signal the app keeps. */
  networkOnline: boolean
  /** When the client will next try to reconnect, if it tells us. */
  retryAt?: number
  /** Narrow screens show one pane at a time: this leads back to the list. */
  onBack?: () => void
  /** The server no longer accepts the session (4401): sign out, to sign in afresh. */
  onSignInAgain?: () => void
}

/** How close to the end counts as "at the bottom": a pixel-perfect check would fight rounding. */
const BOTTOM_SLACK_PX = 48
/** What a message row counts for until measured: a one-line bubble and the gap below it. */
export const ESTIMATED_ROW_HEIGHT = 72
/** Rendered beyond each edge of the screen: enough for a flick, few enough to keep the DOM small. */
const OVERSCAN_PX = 800
/** Older messages are fetched while the reader is within this distance of the top. */
const LOAD_OLDER_WITHIN_PX = 1200
/** Where a message brought into view sits: just below the top edge. */
const SCROLL_MARGIN_PX = 8
/** Stops after which nothing written here could ever be sent: not a member, no such conversation. */
const COMPOSER_CLOSED_CODES: ReadonlySet<number> = new Set([4403, 4404])
/** "typing…" is withdrawn after this long without a keystroke. */
const TYPING_PAUSE_MS = 3000
/** While typing goes on, re-announced this often: well inside the client's 5 s expiry. */
const TYPING_RENEW_MS = 2000

/** How long the original a quote led to stays marked. */
const HIGHLIGHT_MS = 1600

/** What the composer's next Enter does besides sending: answer a message, or save an edit. */
type ComposerMode =
  | { kind: 'reply'; message: Message }
  /** `draft`: what the box held before, given back when the edit ends. */
  | { kind: 'edit'; message: Message; draft: string }

/** One open conversation: header, connection banner, messages, composer. */
export function ChatView(props: ChatViewProps) {
  const model = () => props.model
  const nameOf: NameOf = (id) => (props.nameOf ?? defaultNameOf)(id)
  let scroller: HTMLDivElement | undefined
  let list: VirtualListHandle | undefined
  const [atBottom, setAtBottom] = createSignal(true)
  const [unseen, setUnseen] = createSignal(0)
  const visibleMessages = createVisibleMessages(() => scroller, { paused: true })
  const clock = new StatusClock(props.conversationId)
  onCleanup(() => clock.dispose())

  const isGroup = createMemo(() => Object.keys(model().members()).length > 2)
  const others = createMemo(() => Object.keys(model().members()).filter((user) => user !== model().userId))
  const presence = createMemo(() => model().presence())
  const online = () => others().filter((user) => presence()[user]?.online)
  const typing = () => others().filter((user) => presence()[user]?.typing)
  const pendingCount = () =>
    model()
      .messages()
      .filter((m) => m.author === model().userId && m.status === 'pending').length

  /** Nothing written here could be sent: not a member, or no such conversation. */
  const composerClosed = () => COMPOSER_CLOSED_CODES.has(model().stopped()?.code ?? 0)
  /** Bring a message to the top of the view (its row: the unread divider with it), so what follows it is read from there. */
  const scrollToMessage = (id: string) => {
    if (!list?.scrollToKey(id, SCROLL_MARGIN_PX)) scrollToBottom()
  }
  const scrollToOpeningPosition = () => {
    const from = unreadFrom()
    if (from) scrollToMessage(from)
    else scrollToBottom()
  }

  const scrollToBottom = () => {
    list?.scrollToBottom()
    setAtBottom(true)
    setUnseen(0)
  }

  // Older pages of the sealed history load as the reader nears the top, without limit. One that
  // could not be had (offline, refused) is not asked for again on every scroll: the reader retries,
  // or it is when the connection is back.
  const [olderProblem, setOlderProblem] = createSignal<string>()
  const loadOlder = async () => {
    setOlderProblem(undefined)
    try {
      const added = await model().loadOlder()
      if (added === 0 && model().hasOlder()) {
        setOlderProblem('Offline: earlier messages will load later.')
      }
    } catch (cause) {
      setOlderProblem(`Earlier messages could not load: ${(cause as Error).message}.`)
    }
  }
  const onNearTop = () => {
    if (!opened() || olderProblem() || model().loadingOlder() || !model().hasOlder()) return
    void loadOlder()
  }
  createEffect(
    on(
      () => model().connection(),
      (state) => {
        if (state === 'synced' && olderProblem()) setOlderProblem(undefined)
      },
    ),
  )

  // Where the chat opens: at the first unread message (under an "Unread messages" divider), as
  // messengers do, so a reader is not dropped below messages they have not seen. Decided once the
  // model has loaded: opened by URL, the view mounts while the messages are still coming from disk
  // and the server, and their arrival must not count as "new messages at the bottom".
  const [opened, setOpened] = createSignal(false)
  const [unreadFrom, setUnreadFrom] = createSignal<string>()
  const open = () =>
    untrack(() => {
      setUnreadFrom(model().firstUnread())
      setOpened(true)
    })
  // Already loaded (the conversation was open in the inbox): the divider renders with the list.
  if (untrack(() => model().loaded())) open()
  createEffect(() => {
    if (!opened() && model().loaded()) open()
  })
  // Runs after the update that rendered the divider; only from there on is what is on screen
  // something the reader saw.
  createEffect(
    on(opened, (isOpen) => {
      if (!isOpen) return
      scrollToOpeningPosition()
      visibleMessages.start()
    }),
  )

  // New messages: follow them if the reader was at the bottom (or wrote one); otherwise count them
  // for the pill rather than yanking the reader away from what they are reading. "New" is by id,
  // not by position: after a reconnect the server orders others' messages written meanwhile above
  // this device's own offline ones, and following one's own to the bottom would skip them.
  // Older pages arrive above everything seen so far, and are never "new": only messages not yet
  // stamped, or stamped after the newest one seen, are.
  let seen: Set<string> | undefined
  let newestSeenSeq = 0
  createEffect(
    // The ids, not the list: a store keeps its identity while its contents change.
    on(
      [
        () =>
          model()
            .messages()
            .map((m) => m.id),
        opened,
      ],
      ([ids, isOpen]) => {
        if (!isOpen) return
        const messages = untrack(() => model().messages())
        const before = seen
        const newestBefore = newestSeenSeq
        seen = new Set(ids)
        for (const message of messages) newestSeenSeq = Math.max(newestSeenSeq, message.seq ?? 0)
        if (!before) return
        const added = messages.filter(
          (m) => !before.has(m.id) && (m.seq === undefined || m.seq > newestBefore),
        )
        if (added.length === 0) return
        const userId = model().userId
        const ownAdded = added.some((m) => m.author === userId)
        let lastShown = messages.length - 1
        while (lastShown >= 0 && !before.has(messages[lastShown]!.id)) lastShown--
        const insertedAbove = added.find((m) => m.author !== userId && messages.indexOf(m) < lastShown)
        if (!atBottom() && !ownAdded) setUnseen((count) => count + added.length)
        else if (insertedAbove) queueMicrotask(() => scrollToMessage(insertedAbove.id))
        else queueMicrotask(scrollToBottom)
      },
    ),
  )

  // Read receipts: the newest stamped message from someone else that is on screen. Re-run when a
  // visible message gets its seq, since an unstamped one cannot carry a watermark yet.
  createEffect(() => {
    const onScreen = visibleMessages.onScreen()
    if (onScreen.size === 0) return
    let newest: Message | undefined
    for (const message of model().messages()) {
      if (message.author === model().userId || message.seq === undefined || !onScreen.has(message.id))
        continue
      if (!newest || message.seq > newest.seq!) newest = message
    }
    if (newest) model().markRead(newest.id)
  })

  // "typing…" is announced while keys are pressed and withdrawn after a pause. The client lets an
  // announcement expire (so a closed laptop stops "typing"), so a long burst renews it now and then.
  const [sendError, setSendError] = createSignal<string>()
  let typingTimer: ReturnType<typeof setTimeout> | undefined
  let typingAnnouncedAt = 0
  const stopTyping = () => {
    clearTimeout(typingTimer)
    typingTimer = undefined
    model().setTyping(false)
  }
  const onTyping = () => {
    setSendError(undefined)
    // Fixing a message already sent is not "typing…" to the others.
    if (mode()?.kind === 'edit') return
    if (typingTimer === undefined || Date.now() - typingAnnouncedAt >= TYPING_RENEW_MS) {
      model().setTyping(true)
      typingAnnouncedAt = Date.now()
    }
    clearTimeout(typingTimer)
    typingTimer = setTimeout(stopTyping, TYPING_PAUSE_MS)
  }
  onCleanup(() => clearTimeout(typingTimer))

  /** Run a model call; a refusal is said under the composer (whose text stays) and returned. */
  const attempt = (action: ChatAction, run: () => void): TicksError | undefined => {
    try {
      run()
    } catch (cause) {
      if (!isTicksError(cause)) throw cause
      setSendError(actionErrorText(cause, action))
      return cause
    }
    setSendError(undefined)
    return undefined
  }

  // Replying and editing go through the composer, as in every messenger: a strip above the box
  // says what Enter will do, Escape or its button backs out, and a draft put aside to edit a
  // message comes back when the edit ends.
  let composer: ComposerHandle | undefined
  const [mode, setMode] = createSignal<ComposerMode>()
  const cancelMode = () => {
    const current = mode()
    if (!current) return
    setMode(undefined)
    setSendError(undefined)
    if (current.kind === 'edit') composer?.setText(current.draft)
  }
  const startReply = (message: Message) => {
    if (mode()?.kind === 'edit') cancelMode()
    setMode({ kind: 'reply', message })
    composer?.focus()
  }
  const startEdit = (message: Message) => {
    const current = mode()
    const draft = current?.kind === 'edit' ? current.draft : (composer?.text() ?? '')
    setMode({ kind: 'edit', message, draft })
    setSendError(undefined)
    composer?.setText(message.text)
    composer?.focus()
  }
  /** Up in an empty box edits one's newest message that can still be edited. */
  const editLast = () => {
    const messages = model().messages()
    for (let i = messages.length - 1; i >= 0; i--) {
      const message = messages[i]!
      if (message.author === model().userId && !message.deleted && !message.announcement) {
        startEdit(message)
        return
      }
    }
  }

  /**
   * False (the composer keeps the text) when the model refuses the message; after an edit, the
   * draft that was put aside for it.
   */
  const send = (text: string): boolean | string => {
    const current = mode()
    if (current?.kind === 'edit') {
      if (attempt('edit', () => model().edit(current.message.id, text))) return false
      setMode(undefined)
      return current.draft
    }
    if (current?.kind === 'reply') {
      const refused = attempt('reply', () => model().send(text, { replyTo: current.message.id }))
      // The original was deleted meanwhile: the next Enter sends the text without the quote.
      if (refused?.code === 'deleted') setMode(undefined)
      if (refused) return false
    } else if (attempt('send', () => model().send(text))) return false
    setMode(undefined)
    if (typingTimer !== undefined) stopTyping()
    return true
  }

  const [confirmingDelete, setConfirmingDelete] = createSignal<Message>()
  const deleteMessage = (message: Message) => {
    // Never stamped: the server never had it, so it goes as a discard does.
    if (message.seq === undefined) attempt('delete', () => model().discard(message.id))
    else attempt('delete', () => model().deleteForEveryone(message.id))
    if (mode()?.message.id === message.id) cancelMode()
  }

  /** Someone who cannot write here (an observer, a closed conversation) is offered no actions. */
  const canAct = () =>
    !composerClosed() && model().members()[model().userId]?.role !== 'observer' && !model().stopped()
  const bubbleActions: BubbleActions = {
    onReply: startReply,
    onReact: (message, emoji, mine) =>
      void attempt('react', () =>
        mine ? model().unreact(message.id, emoji) : model().react(message.id, emoji),
      ),
    onEdit: startEdit,
    onDelete: (message) => setConfirmingDelete(message),
  }

  // Following a quote: the original comes to the top of the view, marked for a moment, with the
  // keyboard focus (so a keyboard user lands where they looked).
  const [highlighted, setHighlighted] = createSignal<string>()
  let highlightTimer: ReturnType<typeof setTimeout> | undefined
  onCleanup(() => clearTimeout(highlightTimer))
  const jumpTo = (messageId: string) => {
    if (!list?.scrollToKey(messageId, SCROLL_MARGIN_PX)) return
    setHighlighted(messageId)
    clearTimeout(highlightTimer)
    highlightTimer = setTimeout(() => setHighlighted(undefined), HIGHLIGHT_MS)
    requestAnimationFrame(() => {
      const bubbles = scroller?.querySelectorAll<HTMLElement>('article[data-message-id]') ?? []
      for (const bubble of bubbles) {
        if (bubble.dataset.messageId === messageId) bubble.focus({ preventScroll: true })
      }
    })
  }

  const bannerState = () => {
    const state = model().connection()
    // Between attempts the client reports `offline`; with a network that is really "reconnecting".
    return state === 'offline' && props.networkOnline && !model().stopped() ? 'connecting' : state
  }

  return (
    <section class="chat" aria-label={`Conversation ${model().title()}`}>
      <header class="chat__header">
        <a
          class="chat__back"
          href="/"
          aria-label="Back to conversations"
          onClick={(event) => {
            event.preventDefault()
            props.onBack?.()
          }}
        >
          ←
        </a>
        <span class="avatar" aria-hidden="true">
          {initialOf(model().title())}
        </span>
        <div class="chat__header-text">
          <h2 class="chat__title">{model().title() || 'Conversation'}</h2>
          <PresenceLine
            online={online().map(nameOf)}
            typing={typing().map(nameOf)}
            memberCount={Object.keys(model().members()).length}
          />
        </div>
      </header>
      <Show
        when={model().stopped()}
        fallback={
          <ConnectionBanner
            state={bannerState()}
            networkOffline={!props.networkOnline}
            retryAt={props.retryAt}
            pendingCount={pendingCount()}
            onRetryNow={() => model().reconnect()}
          />
        }
      >
        {(stop) => (
          <div class="connection-banner" data-state="offline" role="alert">
            <Switch
              fallback={
                <>
                  <span>Disconnected: {stop().reason}.</span>
                  <button
                    type="button"
                    class="button button--small button--ghost"
                    onClick={() => model().reconnect()}
                  >
                    Retry now
                  </button>
                </>
              }
            >
              {/* Retrying cannot help with these: the session or the conversation has to change. */}
              <Match when={stop().code === 4401}>
                <span>Your session has expired.</span>
                <SignInAgainButton onSignInAgain={props.onSignInAgain} />
              </Match>
              <Match when={stop().code === 4404}>
                <span>This conversation does not exist, or it was deleted.</span>
              </Match>
            </Switch>
          </div>
        )}
      </Show>
      <div class="messages-pane">
        <div
          class="messages"
          ref={scroller}
          role="log"
          aria-label="Messages"
          onScroll={() => {
            if (!scroller) return
            const bottom =
              scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight <= BOTTOM_SLACK_PX
            setAtBottom(bottom)
            if (bottom) setUnseen(0)
          }}
        >
          <Show
            when={model().messages().length > 0}
            fallback={
              <p class="messages__empty">
                {composerClosed() ? 'No messages to show.' : 'No messages yet. Say hello!'}
              </p>
            }
          >
            <p class="messages__history" aria-live="polite">
              <Switch>
                <Match when={model().loadingOlder()}>Loading earlier messages…</Match>
                <Match when={olderProblem()}>
                  {(problem) => (
                    <>
                      {problem()}{' '}
                      <button type="button" class="link-button" onClick={() => void loadOlder()}>
                        Try again
                      </button>
                    </>
                  )}
                </Match>
                <Match when={!model().hasOlder()}>The beginning of the conversation</Match>
              </Switch>
            </p>
            <VirtualList
              scroller={() => scroller}
              items={model().messages()}
              key={(message) => message.id}
              estimatedHeight={ESTIMATED_ROW_HEIGHT}
              overscan={OVERSCAN_PX}
              bottomSlack={BOTTOM_SLACK_PX}
              nearTop={LOAD_OLDER_WITHIN_PX}
              onNearTop={onNearTop}
              handle={(handle) => {
                list = handle
              }}
            >
              {(message) => {
                const own = message.author === model().userId
                // Per bubble, so a status change recomputes this bubble's receipts and times alone.
                const receipts = createMemo(() => {
                  if (!own) return {}
                  void message.status
                  return model().receipts(message.id)
                })
                const times = createMemo(() => (own ? clock.observe(message.id, message.status) : {}))
                return (
                  <>
                    <Show when={message.id === unreadFrom()}>
                      {/* biome-ignore lint/a11y/useSemanticElements: a divider that carries a visible label; <hr> cannot hold text */}
                      <div class="unread-divider" role="separator">
                        Unread messages
                      </div>
                    </Show>
                    <MessageBubble
                      onElement={(element) => {
                        if (!own) visibleMessages.track(element)
                      }}
                      message={message}
                      own={own}
                      userId={model().userId}
                      actions={canAct() ? bubbleActions : undefined}
                      onJumpTo={jumpTo}
                      highlighted={highlighted() === message.id}
                      showAuthor={isGroup()}
                      receipts={receipts()}
                      times={times()}
                      failureReason={
                        message.status === 'failed' ? model().failureReason(message.id) : undefined
                      }
                      nameOf={nameOf}
                      verification={model().verification?.(message)}
                      onRetry={(id) => model().retry(id)}
                      onDiscard={(id) => model().discard(id)}
                    />
                  </>
                )
              }}
            </VirtualList>
          </Show>
        </div>
        <NewMessagesPill count={unseen()} onClick={scrollToBottom} />
      </div>
      <Composer
        onSend={send}
        onTyping={onTyping}
        maxBytes={model().maxTextBytes}
        error={sendError()}
        disabled={composerClosed()}
        handle={(handle) => {
          composer = handle
        }}
        onCancel={mode() ? cancelMode : undefined}
        onEditLast={canAct() ? editLast : undefined}
        submitLabel={mode()?.kind === 'edit' ? 'Save' : 'Send'}
        context={
          <Show when={mode()}>
            {(current) => (
              <ComposerContext
                kind={current().kind}
                author={
                  current().message.author === model().userId ? 'yourself' : nameOf(current().message.author)
                }
                text={current().message.text}
                onCancel={() => {
                  cancelMode()
                  composer?.focus()
                }}
              />
            )}
          </Show>
        }
      />
      <Show when={confirmingDelete()}>
        {(message) => (
          <ConfirmDialog
            title={message().seq === undefined ? 'Delete this unsent message?' : 'Delete for everyone?'}
            description={
              message().seq === undefined
                ? 'It has not reached the server: it is removed from this device and never sent.'
                : 'This message will be replaced by “This message was deleted” for everyone in this chat.'
            }
            confirmLabel={message().seq === undefined ? 'Delete' : 'Delete for everyone'}
            onCancel={() => setConfirmingDelete(undefined)}
            onConfirm={() => {
              deleteMessage(message())
              setConfirmingDelete(undefined)
              composer?.focus()
            }}
          />
        )}
      </Show>
    </section>
  )
}

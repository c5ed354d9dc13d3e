import type { Message } from '@ticks/core'
import { createEffect, createMemo, createSignal, For, on, onCleanup, Show, untrack } from 'solid-js'
import { Composer } from '../components/composer.js'
import { ConnectionBanner } from '../components/connection-banner.js'
import { MessageBubble } from '../components/message-bubble.js'
import { NewMessagesPill } from '../components/new-messages-pill.js'
import { PresenceLine } from '../components/presence-line.js'
import type { ChatModel } from './chat-model.js'
import { createVisibleMessages } from './read-tracker.js'
import type { NameOf } from './status-text.js'
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
}

/** How close to the end counts as "at the bottom": a pixel-perfect check would fight rounding. */
const BOTTOM_SLACK_PX = 48

/** One open conversation: header, connection banner, messages, composer. */
export function ChatView(props: ChatViewProps) {
  const model = () => props.model
  const nameOf: NameOf = (id) => (props.nameOf ?? String)(id)
  let scroller: HTMLDivElement | undefined
  const [atBottom, setAtBottom] = createSignal(true)
  const [unseen, setUnseen] = createSignal(0)
  const visibleMessages = createVisibleMessages(() => scroller)
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

  // Where the chat opens: at the first unread message (under an "Unread messages" divider), as
  // messengers do, so a reader is not dropped below messages they have not seen.
  const unreadFrom = untrack(() => model().firstUnread())
  let unreadDivider: HTMLDivElement | undefined
  const scrollToOpeningPosition = () => {
    if (!scroller) return
    if (!unreadDivider) return scrollToBottom()
    scroller.scrollTop = Math.max(0, unreadDivider.offsetTop - 8)
  }

  const scrollToBottom = () => {
    if (!scroller) return
    scroller.scrollTop = scroller.scrollHeight
    setAtBottom(true)
    setUnseen(0)
  }

  // New messages: follow them if the reader was at the bottom (or wrote one); otherwise count them
  // for the pill rather than yanking the reader away from what they are reading.
  createEffect(
    on(
      () => model().messages().length,
      (length, previous) => {
        if (previous === undefined) {
          queueMicrotask(scrollToOpeningPosition)
          return
        }
        if (length <= previous) return
        const added = model().messages().slice(previous)
        const ownAdded = added.some((m) => m.author === model().userId)
        if (atBottom() || ownAdded) queueMicrotask(scrollToBottom)
        else setUnseen((count) => count + added.length)
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

  // "typing…" is announced while keys are pressed and withdrawn after a pause.
  let typingTimer: ReturnType<typeof setTimeout> | undefined
  const onTyping = () => {
    if (typingTimer === undefined) model().setTyping(true)
    else clearTimeout(typingTimer)
    typingTimer = setTimeout(() => {
      typingTimer = undefined
      model().setTyping(false)
    }, 3000)
  }
  onCleanup(() => clearTimeout(typingTimer))

  const send = (text: string) => {
    if (typingTimer !== undefined) {
      clearTimeout(typingTimer)
      typingTimer = undefined
      model().setTyping(false)
    }
    model().send(text)
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
          {(model().title() || '?').slice(0, 1).toUpperCase()}
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
            <span>Disconnected: {stop().reason}.</span>
            <button
              type="button"
              class="button button--small button--ghost"
              onClick={() => model().reconnect()}
            >
              Retry now
            </button>
          </div>
        )}
      </Show>
      <div
        class="messages"
        ref={scroller}
        role="log"
        aria-label="Messages"
        onScroll={() => {
          if (!scroller) return
          const bottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight <= BOTTOM_SLACK_PX
          setAtBottom(bottom)
          if (bottom) setUnseen(0)
        }}
      >
        <Show
          when={model().messages().length > 0}
          fallback={<p class="messages__empty">No messages yet. Say hello!</p>}
        >
          <For each={model().messages()}>
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
                  <Show when={message.id === unreadFrom}>
                    {/* biome-ignore lint/a11y/useSemanticElements: a divider that carries a visible label; <hr> cannot hold text */}
                    <div class="unread-divider" ref={unreadDivider} role="separator">
                      Unread messages
                    </div>
                  </Show>
                  <MessageBubble
                    onElement={(element) => {
                      if (!own) visibleMessages.track(element)
                    }}
                    message={message}
                    own={own}
                    showAuthor={isGroup()}
                    receipts={receipts()}
                    times={times()}
                    failureReason={
                      message.status === 'failed' ? model().failureReason(message.id) : undefined
                    }
                    nameOf={nameOf}
                    onRetry={(id) => model().retry(id)}
                    onDiscard={(id) => model().discard(id)}
                  />
                </>
              )
            }}
          </For>
        </Show>
      </div>
      <NewMessagesPill count={unseen()} onClick={scrollToBottom} />
      <Composer onSend={send} onTyping={onTyping} disabled={model().stopped()?.code === 4403} />
    </section>
  )
}

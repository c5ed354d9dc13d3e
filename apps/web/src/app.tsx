import { createEffect, createSignal, Match, onCleanup, Show, Switch } from 'solid-js'
import { createDevSession, fetchState, listAnnouncements, postAnnouncement } from './api.js'
import type { ChatModel } from './chat/chat-model.js'
import { ChatView } from './chat/chat-view.js'
import { createLiveChatModel } from './chat/live-chat-model.js'
import { AdminPage } from './components/admin-page.js'
import { ConversationList } from './components/conversation-list.js'
import { initialOf } from './components/initial.js'
import { NewConversation } from './components/new-conversation.js'
import { SignIn } from './components/sign-in.js'
import { createInbox, type Inbox } from './inbox.js'
import { createNotifications } from './notifications.js'
import { conversationIdOf, navigate, path } from './router.js'
import { type Session, session, setSession } from './session.js'

function createNetworkStatus() {
  const [online, setOnline] = createSignal(navigator.onLine)
  const update = () => setOnline(navigator.onLine)
  addEventListener('online', update)
  addEventListener('offline', update)
  onCleanup(() => {
    removeEventListener('online', update)
    removeEventListener('offline', update)
  })
  return online
}

/**
 * Back to the sign-in screen. The Messenger unmounts with the session, closing the client and every
 * conversation, so nothing of this session stays in memory; what is on disk (IndexedDB, the cached
 * list) is kept per user, for when they sign in again.
 */
function signOut() {
  setSession(undefined)
  navigate('/')
}

/** The open conversation; keyed by id so switching conversations builds a fresh model and view. */
function OpenChat(props: { inbox: Inbox; id: string; networkOnline: boolean }) {
  const model: ChatModel = createLiveChatModel(props.inbox.client, props.id, {
    feedEntry: () => props.inbox.client.inbox().get(props.id),
  })
  // Its row in the list follows this document while it is on screen (an unsent message shows).
  const shown = props.inbox.client.open(props.id)
  const release = props.inbox.showing(shown)
  onCleanup(() => {
    release()
    void shown.close()
  })
  return (
    <ChatView
      conversationId={props.id}
      model={model}
      networkOnline={props.networkOnline}
      onBack={() => navigate('/')}
      onSignInAgain={signOut}
    />
  )
}

function Messenger(props: { session: Session }) {
  const inbox = createInbox(props.session)
  const networkOnline = createNetworkStatus()
  const activeId = () => conversationIdOf(path())
  // Unread messages in the tab's title, as every messenger does: seen from another tab or window.
  createEffect(() => {
    const unread = inbox.unreadTotal()
    document.title = unread > 0 ? `(${unread}) Ticks` : 'Ticks'
  })
  onCleanup(() => {
    document.title = 'Ticks'
  })
  const notifications = createNotifications(inbox, {
    activeId,
    open: (id) => navigate(`/c/${encodeURIComponent(id)}`),
  })
  return (
    <div class="layout" classList={{ 'layout--chat-open': activeId() !== undefined }}>
      <aside class="sidebar">
        <header class="sidebar__header">
          <span class="sidebar__me">
            <span class="avatar" aria-hidden="true">
              {initialOf(props.session.userId)}
            </span>
            <span class="sidebar__name">{props.session.userId}</span>
          </span>
          <span class="sidebar__links">
            <a
              href="/admin"
              onClick={(event) => {
                event.preventDefault()
                navigate('/admin')
              }}
            >
              Admin
            </a>
            <button type="button" class="link-button" onClick={signOut}>
              Sign out
            </button>
          </span>
        </header>
        <Show when={notifications.canAsk()}>
          <button type="button" class="link-button sidebar__notify" onClick={() => void notifications.ask()}>
            Turn on notifications
          </button>
        </Show>
        <NewConversation
          onCreate={async (title, members) => {
            navigate(`/c/${encodeURIComponent(await inbox.create(title, members))}`)
          }}
        />
        <ConversationList
          conversations={inbox.summaries()}
          activeId={activeId()}
          onOpen={(id) => navigate(`/c/${encodeURIComponent(id)}`)}
          error={inbox.listError()}
          onSignInAgain={signOut}
        />
      </aside>
      <Show
        when={activeId()}
        keyed
        fallback={
          <section class="chat chat--empty">
            <p>Pick a conversation, or start a new one.</p>
          </section>
        }
      >
        {(id) => <OpenChat inbox={inbox} id={id} networkOnline={networkOnline()} />}
      </Show>
    </div>
  )
}

export function App() {
  return (
    <Switch>
      <Match when={path() === '/admin' && session()} keyed>
        {(current) => (
          <AdminPage
            fetchState={() => fetchState(current.token)}
            announcements={{
              list: () => listAnnouncements(current.token),
              post: (text, conversationId) => postAnnouncement(current.token, text, conversationId),
            }}
          />
        )}
      </Match>
      <Match when={session()} keyed>
        {(current) => <Messenger session={current} />}
      </Match>
      <Match when={!session()}>
        <SignIn requestDevToken={createDevSession} onSignIn={setSession} />
      </Match>
    </Switch>
  )
}

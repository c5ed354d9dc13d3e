import { For, Show } from 'solid-js'
import { defaultNameOf, formatTime } from '../chat/status-text.js'
import { initialOf } from './initial.js'
import { SignInAgainButton } from './sign-in-again-button.js'

export interface ConversationSummary {
  id: string
  title: string
  lastMessage?: {
    author: string
    text: string
    createdAt: number
    own: boolean
    /** It names the reader (`@<userId>`): the notification and the row say so. */
    mentionsMe?: boolean
  }
  unread: number
  /** Unread messages that mention the reader, when the server counts them. */
  unreadMentions?: number
}

/** Why the list could not be refreshed (it still shows what was listed before). */
export interface ListError {
  message: string
  /** The server no longer accepts the session: signing in again is the way out. */
  sessionExpired: boolean
}

export interface ConversationListProps {
  conversations: ConversationSummary[]
  activeId?: string
  onOpen: (id: string) => void
  nameOf?: (userId: string) => string
  error?: ListError
  onSignInAgain?: () => void
}

/** The inbox: one row per conversation, newest activity first is the caller's ordering choice. */
export function ConversationList(props: ConversationListProps) {
  return (
    <nav class="conversation-list" aria-label="Conversations">
      <Show when={props.error}>
        {(error) => (
          <div class="conversation-list__error" role="alert">
            <span>{error().message}</span>
            <Show when={error().sessionExpired}>
              <SignInAgainButton onSignInAgain={props.onSignInAgain} />
            </Show>
          </div>
        )}
      </Show>
      <Show
        when={props.conversations.length > 0}
        fallback={<p class="conversation-list__empty">No conversations yet. Start one above.</p>}
      >
        <ul>
          <For each={props.conversations}>
            {(conversation) => (
              <li>
                <a
                  href={`/c/${encodeURIComponent(conversation.id)}`}
                  class="conversation-row"
                  classList={{ 'conversation-row--active': conversation.id === props.activeId }}
                  aria-current={conversation.id === props.activeId ? 'page' : undefined}
                  onClick={(event) => {
                    if (event.metaKey || event.ctrlKey || event.shiftKey) return
                    event.preventDefault()
                    props.onOpen(conversation.id)
                  }}
                >
                  <span class="avatar" aria-hidden="true">
                    {initialOf(conversation.title)}
                  </span>
                  <span class="conversation-row__body">
                    <span class="conversation-row__top">
                      <span class="conversation-row__title">{conversation.title || 'Untitled'}</span>
                      <Show when={conversation.lastMessage}>
                        {(last) => <span class="conversation-row__time">{formatTime(last().createdAt)}</span>}
                      </Show>
                    </span>
                    <span class="conversation-row__bottom">
                      <span class="conversation-row__last">
                        <Show when={conversation.lastMessage} fallback={<em>No messages yet</em>}>
                          {(last) => (
                            <>
                              <span class="conversation-row__last-author">
                                {last().own ? 'You' : (props.nameOf ?? defaultNameOf)(last().author)}:
                              </span>{' '}
                              {last().text}
                            </>
                          )}
                        </Show>
                      </span>
                      <Show
                        when={
                          conversation.unread > 0 &&
                          ((conversation.unreadMentions ?? 0) > 0 || conversation.lastMessage?.mentionsMe)
                        }
                      >
                        <span class="unread-badge unread-badge--mention" role="img" aria-label="Mentions you">
                          @
                        </span>
                      </Show>
                      <Show when={conversation.unread > 0}>
                        <span class="unread-badge" role="img" aria-label={`${conversation.unread} unread`}>
                          {conversation.unread}
                        </span>
                      </Show>
                    </span>
                  </span>
                </a>
              </li>
            )}
          </For>
        </ul>
      </Show>
    </nav>
  )
}

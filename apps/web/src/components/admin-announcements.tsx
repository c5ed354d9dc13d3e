import { createSignal, For, Show } from 'solid-js'
import { type Announcement, type AnnouncementPosted, ApiError } from '../api.js'

export interface AdminAnnouncementsProps {
  /** The most recent posts, newest first (`GET /api/announcements`). */
  list: () => Promise<Announcement[]>
  /** Post into one conversation, or into every one without `conversationId`. */
  post: (text: string, conversationId?: string) => Promise<AnnouncementPosted>
}

type Listing =
  | { state: 'loading' }
  | { state: 'listed'; announcements: Announcement[] }
  | { state: 'not-admin' }
  | { state: 'failed'; message: string }

const reached = (posted: AnnouncementPosted): string => {
  const failed = posted.announcements.filter((one) => one.error !== undefined).length
  const delivered = posted.announcements.length - failed
  const into = `Posted into ${delivered} conversation${delivered === 1 ? '' : 's'}`
  return failed > 0 ? `${into}; ${failed} could not take it.` : `${into}.`
}

/**
 * `/admin`'s announcements (issue 16): the recent posts, and a form to post one into one
 * conversation or into every one. Only an admin token may do either: anyone else is told so,
 * without a form the server would refuse.
 */
export function AdminAnnouncements(props: AdminAnnouncementsProps) {
  const [listing, setListing] = createSignal<Listing>({ state: 'loading' })
  const [text, setText] = createSignal('')
  const [everywhere, setEverywhere] = createSignal(true)
  const [conversationId, setConversationId] = createSignal('')
  const [busy, setBusy] = createSignal(false)
  const [outcome, setOutcome] = createSignal<{ ok: boolean; message: string }>()

  const load = async () => {
    try {
      setListing({ state: 'listed', announcements: await props.list() })
    } catch (cause) {
      if (cause instanceof ApiError && cause.status === 403) setListing({ state: 'not-admin' })
      else setListing({ state: 'failed', message: (cause as Error).message })
    }
  }
  void load()

  const submit = async (event: SubmitEvent) => {
    event.preventDefault()
    const announcement = text().trim()
    const target = conversationId().trim()
    if (announcement === '') return setOutcome({ ok: false, message: 'Write the announcement first.' })
    if (!everywhere() && target === '')
      return setOutcome({ ok: false, message: 'Name the conversation, or post into every one.' })
    setBusy(true)
    setOutcome(undefined)
    try {
      const posted = await props.post(announcement, everywhere() ? undefined : target)
      setOutcome({ ok: true, message: reached(posted) })
      setText('')
      await load()
    } catch (cause) {
      setOutcome({ ok: false, message: `Not posted: ${(cause as Error).message}` })
    } finally {
      setBusy(false)
    }
  }

  return (
    <section class="admin-card" aria-label="Announcements">
      <h2>Announcements</h2>
      <Show when={listing().state === 'not-admin'}>
        <p class="admin__note">
          Announcements are for admins: sign in with a token that carries the admin claim (
          <code>ticks_admin</code>, or the <code>ticks:admin</code> scope).
        </p>
      </Show>
      <Show when={listing().state !== 'not-admin'}>
        <form class="stack" onSubmit={submit} aria-label="Post an announcement">
          <label for="announcement-text">Announcement</label>
          <textarea
            id="announcement-text"
            rows={3}
            value={text()}
            onInput={(event) => setText(event.currentTarget.value)}
          />
          <fieldset class="stack">
            <legend>Post into</legend>
            <label>
              <input
                type="radio"
                name="announcement-target"
                checked={everywhere()}
                onChange={() => setEverywhere(true)}
              />{' '}
              Every conversation
            </label>
            <label>
              <input
                type="radio"
                name="announcement-target"
                checked={!everywhere()}
                onChange={() => setEverywhere(false)}
              />{' '}
              One conversation
            </label>
            <Show when={!everywhere()}>
              <label for="announcement-conversation">Conversation id</label>
              <input
                id="announcement-conversation"
                value={conversationId()}
                onInput={(event) => setConversationId(event.currentTarget.value)}
              />
            </Show>
          </fieldset>
          <div class="row">
            <button type="submit" class="button" disabled={busy()}>
              {busy() ? 'Posting…' : 'Post announcement'}
            </button>
          </div>
          <Show when={outcome()}>
            {(shown) => (
              <p class={shown().ok ? 'admin__note' : 'form-error'} role={shown().ok ? 'status' : 'alert'}>
                {shown().message}
              </p>
            )}
          </Show>
        </form>
      </Show>
      <Show when={listing().state === 'failed' && (listing() as { message: string }).message}>
        {(message) => (
          <p class="form-error" role="alert">
            Could not load the announcements: {message()}
          </p>
        )}
      </Show>
      <Show
        when={listing().state === 'listed' && (listing() as { announcements: Announcement[] }).announcements}
      >
        {(announcements) => (
          <Show when={announcements().length > 0} fallback={<p class="admin-empty">No announcements yet.</p>}>
            <table class="admin-table">
              <caption>Recent announcements ({announcements().length})</caption>
              <thead>
                <tr>
                  <th scope="col">Posted</th>
                  <th scope="col">Text</th>
                  <th scope="col">Into</th>
                  <th scope="col">Reached</th>
                  <th scope="col">By</th>
                </tr>
              </thead>
              <tbody>
                <For each={announcements()}>
                  {(announcement) => (
                    <tr>
                      <td>{new Date(announcement.postedAt).toLocaleString()}</td>
                      <td>{announcement.text}</td>
                      <td>{announcement.conversationId ?? 'every conversation'}</td>
                      <td>
                        {announcement.delivered}
                        {announcement.failed > 0 ? ` (${announcement.failed} failed)` : ''}
                      </td>
                      <td>{announcement.postedBy}</td>
                    </tr>
                  )}
                </For>
              </tbody>
            </table>
          </Show>
        )}
      </Show>
    </section>
  )
}

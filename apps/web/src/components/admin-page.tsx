import { createSignal, For, type JSX, onCleanup, Show } from 'solid-js'
import { AdminAnnouncements, type AdminAnnouncementsProps } from './admin-announcements.js'

export interface AdminPageProps {
  fetchState: () => Promise<Record<string, unknown>>
  /** Recent announcements and posting them (admin tokens only); left out, the page shows none. */
  announcements?: AdminAnnouncementsProps
  /** Refresh period; the server caches `/api/state` for up to 5 s, so polling faster buys nothing. */
  intervalMs?: number
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

const humanize = (key: string) =>
  key.replace(/([a-z])([A-Z])/g, '$1 $2').replace(/^./, (c) => c.toUpperCase())

function cell(value: unknown): string {
  if (value === null || value === undefined) return '—'
  if (typeof value === 'object') return JSON.stringify(value)
  return String(value)
}

/** Rows of objects become a table, so the view follows whatever fields the server reports. */
function Table(props: { rows: Record<string, unknown>[]; caption: string }) {
  const columns = () => [...new Set(props.rows.flatMap((row) => Object.keys(row)))]
  return (
    <table class="admin-table">
      <caption>{props.caption}</caption>
      <thead>
        <tr>
          <For each={columns()}>{(column) => <th scope="col">{humanize(column)}</th>}</For>
        </tr>
      </thead>
      <tbody>
        <For each={props.rows}>
          {(row) => (
            <tr>
              <For each={columns()}>{(column) => <td>{cell(row[column])}</td>}</For>
            </tr>
          )}
        </For>
      </tbody>
    </table>
  )
}

function Section(props: { name: string; value: unknown }): JSX.Element {
  // Read inside the returned accessor: a refresh hands the same section a new value.
  return <>{() => sectionFor(props.name, props.value)}</>
}

function sectionFor(name: string, value: unknown): JSX.Element {
  const props = { name }
  if (Array.isArray(value)) {
    return (
      <Show when={value.length > 0} fallback={<p class="admin-empty">{humanize(props.name)}: none</p>}>
        <Table caption={`${humanize(props.name)} (${value.length})`} rows={value.filter(isRecord)} />
      </Show>
    )
  }
  if (isRecord(value)) {
    return (
      <section class="admin-card" aria-label={humanize(props.name)}>
        <h2>{humanize(props.name)}</h2>
        <dl>
          <For each={Object.entries(value)}>
            {([key, inner]) => (
              <div class="admin-stat">
                <dt>{humanize(key)}</dt>
                <dd>{cell(inner)}</dd>
              </div>
            )}
          </For>
        </dl>
      </section>
    )
  }
  return (
    <p class="admin-stat-line">
      <strong>{humanize(props.name)}:</strong> {cell(value)}
    </p>
  )
}

/**
 * `/admin`: rooms, sockets and messages by status, straight from `GET /api/state`, and the
 * announcements admins posted, with a form to post one.
 */
export function AdminPage(props: AdminPageProps) {
  // The last good state stays on screen through a failed refresh (server restarting, network
  // down) beside the error, and the next refresh that succeeds replaces both.
  const [latest, setLatest] = createSignal<Record<string, unknown>>()
  const [error, setError] = createSignal<string>()
  const load = async () => {
    try {
      setLatest(await props.fetchState())
      setError(undefined)
    } catch (cause) {
      setError((cause as Error).message)
    }
  }
  void load()
  const timer = setInterval(() => void load(), props.intervalMs ?? 5000)
  onCleanup(() => clearInterval(timer))
  return (
    <main class="admin">
      <header class="admin__header">
        <h1>Ticks server</h1>
        <a href="/">Back to chat</a>
      </header>
      <Show when={error()}>
        {(message) => (
          <p class="form-error" role="alert">
            Could not load the server state: {message()}
          </p>
        )}
      </Show>
      <Show when={latest()}>
        {(latest) => (
          <div class="admin__grid">
            <Section
              name="overview"
              value={Object.fromEntries(
                Object.entries(latest()).filter(([, value]) => typeof value !== 'object'),
              )}
            />
            <For
              each={Object.entries(latest()).filter(
                ([, value]) => typeof value === 'object' && value !== null,
              )}
            >
              {([name, value]) => <Section name={name} value={value} />}
            </For>
          </div>
        )}
      </Show>
      <p class="admin__note">Refreshes every {Math.round((props.intervalMs ?? 5000) / 1000)} s.</p>
      <Show when={props.announcements}>{(announcements) => <AdminAnnouncements {...announcements()} />}</Show>
    </main>
  )
}

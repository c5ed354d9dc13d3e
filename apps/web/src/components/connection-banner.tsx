import { createSignal, Match, onCleanup, Switch } from 'solid-js'

export type ConnectionState = 'offline' | 'connecting' | 'syncing' | 'synced'

export interface ConnectionBannerProps {
  state: ConnectionState
  /** The browser reports no network at all (navigator.onLine): say so rather than "reconnecting". */
  networkOffline?: boolean
  /** When the next reconnect attempt is due (epoch ms), if the client is backing off. */
  retryAt?: number
  /** Own messages waiting to be sent, mentioned so the user knows nothing is lost. */
  pendingCount?: number
  onRetryNow?: () => void
  /** Clock, injectable for tests. */
  now?: () => number
}

/** Ticks once a second while mounted, for the reconnect countdown. */
function createNow(now: () => number) {
  const [current, setCurrent] = createSignal(now())
  const timer = setInterval(() => setCurrent(now()), 1000)
  onCleanup(() => clearInterval(timer))
  return current
}

function pendingNote(count: number | undefined): string {
  if (!count) return 'Messages will be sent when you reconnect.'
  return `${count} ${count === 1 ? 'message' : 'messages'} will be sent when you reconnect.`
}

/**
 * One line that tells the user whether their messages can leave the device. A live region, so a
 * screen reader hears "offline" and "synced" as they happen.
 */
export function ConnectionBanner(props: ConnectionBannerProps) {
  const now = createNow(props.now ?? Date.now)
  const secondsLeft = () =>
    props.retryAt === undefined ? undefined : Math.max(0, Math.ceil((props.retryAt - now()) / 1000))
  const shown = () => (props.networkOffline ? 'offline' : props.state)
  return (
    <output class="connection-banner" data-state={shown()} aria-live="polite">
      <Switch>
        <Match when={shown() === 'offline'}>
          <span class="connection-banner__dot" aria-hidden="true" />
          <span>
            <strong>You are offline.</strong> {pendingNote(props.pendingCount)}
          </span>
        </Match>
        <Match when={shown() === 'connecting'}>
          <span class="connection-banner__dot" aria-hidden="true" />
          <span>
            {secondsLeft() === undefined || secondsLeft() === 0
              ? 'Reconnecting…'
              : `Reconnecting in ${secondsLeft()} s…`}
          </span>
          <button
            type="button"
            class="button button--small button--ghost"
            onClick={() => props.onRetryNow?.()}
          >
            Retry now
          </button>
        </Match>
        <Match when={shown() === 'syncing'}>
          <span class="connection-banner__dot" aria-hidden="true" />
          <span>Syncing…</span>
        </Match>
        <Match when={shown() === 'synced'}>
          <span class="connection-banner__dot" aria-hidden="true" />
          <span>Synced</span>
        </Match>
      </Switch>
    </output>
  )
}

import { createSignal } from 'solid-js'

/** The whole routing table is three paths (`/`, `/c/<id>`, `/admin`): a signal over history is enough. */
const [path, setPath] = createSignal(location.pathname)

addEventListener('popstate', () => setPath(location.pathname))

export { path }

export function navigate(to: string): void {
  if (to === location.pathname) return
  history.pushState(null, '', to)
  setPath(to)
}

/** The conversation id in `/c/<id>`, if the path is one. */
export function conversationIdOf(pathname: string): string | undefined {
  const match = /^\/c\/([^/]+)\/?$/.exec(pathname)
  return match ? decodeURIComponent(match[1]!) : undefined
}

import { createSignal } from 'solid-js'

export interface Session {
  userId: string
  token: string
}

const KEY = 'ticks.session'

/** The `sub` of a JWT, read without verifying: the server verifies; the app only needs the name. */
export function subjectOf(token: string): string | undefined {
  const payload = token.split('.')[1]
  if (!payload) return undefined
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'))
    const sub = (JSON.parse(json) as { sub?: unknown }).sub
    return typeof sub === 'string' && sub.length > 0 ? sub : undefined
  } catch {
    return undefined
  }
}

function load(): Session | undefined {
  try {
    const raw = localStorage.getItem(KEY)
    return raw ? (JSON.parse(raw) as Session) : undefined
  } catch {
    return undefined
  }
}

// Kept in localStorage so a reload while offline still knows who you are (the token is only checked
// by the server, when the socket reconnects).
const [session, setSessionSignal] = createSignal<Session | undefined>(load())

export { session }

export function setSession(next: Session | undefined): void {
  if (next) localStorage.setItem(KEY, JSON.stringify(next))
  else localStorage.removeItem(KEY)
  setSessionSignal(next)
}

import { randomId } from '@ticks/core'

type KeyValueStorage = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>

const storage = (name: 'localStorage' | 'sessionStorage'): KeyValueStorage | undefined => {
  try {
    const candidate = (globalThis as Record<string, unknown>)[name] as KeyValueStorage | undefined
    return candidate && typeof candidate.getItem === 'function' ? candidate : undefined
  } catch {
    // Reading localStorage throws in sandboxed iframes and with storage disabled.
    return undefined
  }
}

const attempt = <T>(action: () => T): T | undefined => {
  try {
    return action()
  } catch {
    // Quota, privacy mode: a fresh id per load is still correct, only less compact.
    return undefined
  }
}

const remembered = (store: KeyValueStorage | undefined, key: string): string => {
  const existing = attempt(() => store?.getItem(key))
  if (existing) return existing
  const id = randomId(12)
  attempt(() => store?.setItem(key, id))
  return id
}

/** Replica ids held by a live client of this realm, as `<userId> <replicaId>`. */
const inUse = new Set<string>()
/** Per user, the tab id this page took out of sessionStorage (or made): its own for its lifetime. */
const pageTabs = new Map<string, string>()

interface PageEvents {
  addEventListener?: (type: string, listener: (event: Event) => void) => void
}

/**
 * The tab part of this page's ids for `userId`. A tab duplicated by the browser starts with a copy
 * of the original's sessionStorage, so an id merely read from there would be shared by both; it is
 * taken out instead, and put back only on `pagehide`, for the reload (or the back-forward cache)
 * that follows. A tab duplicated meanwhile finds nothing and makes its own.
 */
function pageTab(userId: string): string {
  const known = pageTabs.get(userId)
  if (known) return known
  const session = storage('sessionStorage')
  if (!session) return randomId(12)
  const key = `ticks:${userId}:tab`
  const tab = attempt(() => session.getItem(key)) || randomId(12)
  attempt(() => session.removeItem(key))
  pageTabs.set(userId, tab)
  const events = globalThis as PageEvents
  events.addEventListener?.('pagehide', () => {
    // If another frame of this tab already put its own back, that one is kept: either is unique.
    attempt(() => {
      if (session.getItem(key) === null) session.setItem(key, tab)
    })
  })
  events.addEventListener?.('pageshow', (event) => {
    // Back from the back-forward cache: this page is live again, so the id is taken again.
    const restored = (event as Event & { persisted?: boolean }).persisted
    if (restored && attempt(() => session.getItem(key)) === tab) attempt(() => session.removeItem(key))
  })
  return tab
}

export interface ReplicaIdClaim {
  readonly id: string
  /** The client closed: a later client of this user in this page may have the id again. */
  release(): void
}

/**
 * The id of a new client's receipt key (`r|<replicaId>`), held until `release()`.
 *
 * It is `<device>.<tab>`: the device part lives in localStorage, the tab part belongs to this page
 * (see `pageTab`), so a reload of the tab keeps the id and the receipts map stays small. No two
 * live clients may share a key: the server refuses a receipt that does not dominate the key's
 * current value, and two writers raising one key concurrently would each lower the other's — the
 * server closes with 4400 "a receipt may only rise", on every retry. So a second client of the
 * same user in this page gets `<device>.<fresh>`, and a duplicated tab makes its own tab part.
 * Without web storage (Node, workers) every client gets a fresh id; core deletes dominated keys
 * of the same user, so the receipts map stays small either way.
 */
export function claimReplicaId(userId: string): ReplicaIdClaim {
  const device = remembered(storage('localStorage'), `ticks:${userId}:device`)
  let id = `${device}.${pageTab(userId)}`
  while (inUse.has(`${userId} ${id}`)) id = `${device}.${randomId(12)}`
  const entry = `${userId} ${id}`
  inUse.add(entry)
  let held = true
  return {
    id,
    release() {
      if (held) inUse.delete(entry)
      held = false
    },
  }
}

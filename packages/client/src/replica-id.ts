import { randomId } from '@ticks/core'

type KeyValueStorage = Pick<Storage, 'getItem' | 'setItem'>

const storage = (name: 'localStorage' | 'sessionStorage'): KeyValueStorage | undefined => {
  try {
    const candidate = (globalThis as Record<string, unknown>)[name] as KeyValueStorage | undefined
    return candidate && typeof candidate.getItem === 'function' ? candidate : undefined
  } catch {
    // Reading localStorage throws in sandboxed iframes and with storage disabled.
    return undefined
  }
}

const remembered = (store: KeyValueStorage | undefined, key: string): string => {
  const existing = store?.getItem(key)
  if (existing) return existing
  const id = randomId(12)
  try {
    store?.setItem(key, id)
  } catch {
    // Quota or privacy mode: a fresh id per load is still correct, only less compact.
  }
  return id
}

/**
 * The id of this replica's receipt key (`r|<replicaId>`), stable across reloads.
 *
 * It is `<device>.<tab>`: the device part lives in localStorage, the tab part in sessionStorage
 * (which survives a reload but is private to a tab). Two tabs must never share a key: the server
 * refuses a receipt that does not dominate the key's current value, and two tabs raising one key
 * concurrently would each lower the other's — a refusal loop. Without web storage (Node, workers)
 * every client instance gets a fresh id; core deletes dominated keys of the same user, so the
 * receipts map stays small either way.
 */
export function resolveReplicaId(userId: string): string {
  const device = remembered(storage('localStorage'), `ticks:${userId}:device`)
  const tab = remembered(storage('sessionStorage'), `ticks:${userId}:tab`)
  return `${device}.${tab}`
}

/**
 * Where this device keeps its signing key (DESIGN section 13): one Ed25519 key pair per user and
 * device, the private half non-extractable. With IndexedDB the `CryptoKey` itself is stored (a
 * structured clone keeps it non-extractable), so the key survives reloads without its bytes ever
 * being readable by script; without persistence (Node, tests) it lives as long as the client.
 */
import { generateSigningKey, type SigningKey } from '@ticks/core'

export interface KeyStore {
  /** This device's signing key, made on first use. */
  current(): Promise<SigningKey>
  /**
   * A new key for this device from now on. The old one stays published (not revoked), so what it
   * signed stays verified; revoke it (`LiveConversation.revokeKey`) if it may have leaked.
   */
  rotate(): Promise<SigningKey>
}

/** A key kept in memory for the lifetime of the store. */
export function memoryKeyStore(): KeyStore {
  let key: Promise<SigningKey> | undefined
  return {
    current: () => {
      key ??= generateSigningKey()
      return key
    },
    rotate: () => {
      key = generateSigningKey()
      return key
    },
  }
}

/** The IndexedDB database of a user's signing key on this device: scoped by user, like the rest. */
export const keyDatabaseName = (userId: string): string => `ticks-keys:${userId}`

const STORE = 'keys'
const CURRENT = 'current'

/**
 * A key kept in IndexedDB, shared by every tab of this browser profile. Two tabs that both find
 * no key race to add one: the first `add` wins and the other adopts it, so a device has one key.
 */
export function indexedDbKeyStore(databaseName: string): KeyStore {
  let key: Promise<SigningKey> | undefined
  const load = async (): Promise<SigningKey> => {
    const stored = await withStore('readonly', (store) => store.get(CURRENT))
    if (isSigningKey(stored)) return stored
    const made = await generateSigningKey()
    try {
      await withStore('readwrite', (store) => store.add(made, CURRENT))
      return made
    } catch (error) {
      if ((error as DOMException | null)?.name !== 'ConstraintError') throw error
      const winner = await withStore('readonly', (store) => store.get(CURRENT))
      if (!isSigningKey(winner)) throw error
      return winner
    }
  }
  const withStore = <T>(mode: IDBTransactionMode, run: (store: IDBObjectStore) => IDBRequest<T>) =>
    new Promise<T>((resolve, reject) => {
      const open = indexedDB.open(databaseName, 1)
      open.onupgradeneeded = () => open.result.createObjectStore(STORE)
      open.onerror = () => reject(open.error)
      open.onsuccess = () => {
        const db = open.result
        const transaction = db.transaction(STORE, mode)
        const request = run(transaction.objectStore(STORE))
        transaction.oncomplete = () => {
          db.close()
          resolve(request.result)
        }
        transaction.onerror = () => {
          db.close()
          reject(request.error ?? transaction.error)
        }
        transaction.onabort = () => {
          db.close()
          reject(request.error ?? transaction.error)
        }
      }
    })
  return {
    current: () => {
      // A failed load is not kept: the next signature tries again.
      key ??= load().catch((error: unknown) => {
        key = undefined
        throw error
      })
      return key
    },
    rotate: () => {
      const next = generateSigningKey().then(async (made) => {
        await withStore('readwrite', (store) => store.put(made, CURRENT))
        return made
      })
      key = next
      return next
    },
  }
}

function isSigningKey(value: unknown): value is SigningKey {
  const key = value as Partial<SigningKey> | undefined
  return (
    typeof key?.keyId === 'string' &&
    typeof key.publicKey === 'string' &&
    typeof key.createdAt === 'number' &&
    typeof CryptoKey !== 'undefined' &&
    key.privateKey instanceof CryptoKey
  )
}

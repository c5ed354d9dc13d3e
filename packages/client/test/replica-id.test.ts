import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import WS from 'ws'
import { startServer, testClient, until } from './helpers.js'

/** Web storage as a browser gives it, in memory. */
class MemoryStorage {
  private readonly items = new Map<string, string>()
  getItem(key: string): string | null {
    return this.items.get(key) ?? null
  }
  setItem(key: string, value: string): void {
    this.items.set(key, String(value))
  }
  removeItem(key: string): void {
    this.items.delete(key)
  }
  /** What a duplicated tab starts with: a copy of the original's sessionStorage. */
  copy(): MemoryStorage {
    const copy = new MemoryStorage()
    for (const [key, value] of this.items) copy.setItem(key, value)
    return copy
  }
}

const PAGE_GLOBALS = ['localStorage', 'sessionStorage', 'addEventListener', 'removeEventListener'] as const
const saved = PAGE_GLOBALS.map((name) => [name, Object.getOwnPropertyDescriptor(globalThis, name)] as const)

/** Make this realm look like a browser page with these storages and this window's events. */
function installPage(page: {
  localStorage: MemoryStorage
  sessionStorage: MemoryStorage
  events: EventTarget
}) {
  const values = {
    localStorage: page.localStorage,
    sessionStorage: page.sessionStorage,
    addEventListener: page.events.addEventListener.bind(page.events),
    removeEventListener: page.events.removeEventListener.bind(page.events),
  }
  for (const name of PAGE_GLOBALS) {
    Object.defineProperty(globalThis, name, { value: values[name], configurable: true, writable: true })
  }
}

afterEach(() => {
  for (const [name, descriptor] of saved) {
    if (descriptor) Object.defineProperty(globalThis, name, descriptor)
    else delete (globalThis as Record<string, unknown>)[name]
  }
})

let server: Awaited<ReturnType<typeof startServer>>
beforeAll(async () => {
  server = await startServer()
})
afterAll(() => server.close())

describe('no two live clients share a replica id', () => {
  it('two clients of one user in one page get their own keys, and neither is refused', async () => {
    installPage({
      localStorage: new MemoryStorage(),
      sessionStorage: new MemoryStorage(),
      events: new EventTarget(),
    })
    const aliceToken = await server.token('alice')
    const id = await server.conversation(aliceToken, ['bob'])
    const bobClient = testClient({ url: server.url, token: await server.token('bob'), userId: 'bob' })
    const bob = bobClient.open(id)
    expect(await bob.whenSynced()).toBe(true)
    const sent = ['one', 'two', 'three'].map((text) => bob.send(text))
    await until(
      'stamped',
      () => bob.status(sent[2]!.id),
      (status) => status !== 'pending',
    )

    const tabA = testClient({ url: server.url, token: aliceToken, userId: 'alice' })
    const tabB = testClient({ url: server.url, token: aliceToken, userId: 'alice' })
    expect(tabA.replicaId).not.toBe(tabB.replicaId)
    const a = tabA.open(id)
    const b = tabB.open(id)
    expect(await a.whenSynced()).toBe(true)
    expect(await b.whenSynced()).toBe(true)
    await until(
      'b has all three',
      () => b.messages().length,
      (n) => n === 3,
    )

    // One reads everything online while the other, offline, reads less: had they shared a key,
    // the second's raise would lower the first's, which the server refuses (4400) on every retry.
    b.disconnect()
    a.markRead()
    await until(
      'bob sees read',
      () => bob.status(sent[2]!.id),
      (status) => status === 'read',
    )
    b.markRead(sent[0]!.id)
    const reply = b.send('written in the other client')
    b.reconnect()
    await until(
      'the reply is stamped',
      () => b.messages().find((m) => m.id === reply.id)?.seq,
      (seq) => seq !== undefined,
    )
    expect(b.stopped).toBeUndefined()
    expect(bob.status(sent[2]!.id)).toBe('read')

    // A client made after one closed has the page's id again: receipts stay on few keys.
    const first = tabA.replicaId
    await tabA.close()
    const tabC = testClient({ url: server.url, token: aliceToken, userId: 'alice' })
    expect(tabC.replicaId).toBe(first)
    await Promise.all([tabB.close(), tabC.close(), bobClient.close()])
  })

  it('a duplicated tab makes its own key; a reload of either tab keeps its own', async () => {
    const localStorage = new MemoryStorage()
    /** A page load: a new realm (fresh modules) with this tab's storage and window. */
    const loadPage = async (sessionStorage: MemoryStorage) => {
      const events = new EventTarget()
      installPage({ localStorage, sessionStorage, events })
      vi.resetModules()
      const { createClient } = await import('../src/index.js')
      const client = createClient({
        url: 'ws://127.0.0.1:1',
        token: 'unused',
        userId: 'carol',
        persistence: 'none',
        WebSocket: WS as unknown as typeof WebSocket,
        connect: false,
      })
      return { client, hide: () => events.dispatchEvent(new Event('pagehide')), events }
    }
    const device = (replicaId: string) => replicaId.split('.')[0]

    const tabSession = new MemoryStorage()
    const original = await loadPage(tabSession)
    const duplicateSession = tabSession.copy() // the browser duplicates the tab
    const duplicate = await loadPage(duplicateSession)
    expect(duplicate.client.replicaId).not.toBe(original.client.replicaId)
    expect(device(duplicate.client.replicaId)).toBe(device(original.client.replicaId))

    original.hide() // reloads
    const reloaded = await loadPage(tabSession)
    expect(reloaded.client.replicaId).toBe(original.client.replicaId)
    duplicate.hide()
    const duplicateReloaded = await loadPage(duplicateSession)
    expect(duplicateReloaded.client.replicaId).toBe(duplicate.client.replicaId)

    // Back from the back-forward cache, a page takes its id out again: a duplicate made then
    // cannot copy it.
    reloaded.hide()
    const restored = Object.assign(new Event('pageshow'), { persisted: true })
    reloaded.events.dispatchEvent(restored)
    const another = await loadPage(tabSession.copy())
    expect(another.client.replicaId).not.toBe(reloaded.client.replicaId)

    await Promise.all(
      [original, duplicate, reloaded, duplicateReloaded, another].map((page) => page.client.close()),
    )
  })
})

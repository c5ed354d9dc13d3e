import { afterEach, describe, expect, it } from 'vitest'
import { MemoryStore } from '../src/index.js'
import { startTestServer, type TestServer, tokenFor } from './helpers/server.js'

/** A memory store whose writes can be made to fail, as a full disk or a read-only file does. */
class FlakyStore extends MemoryStore {
  writesFail = false
  override append(...args: Parameters<MemoryStore['append']>) {
    if (this.writesFail) return Promise.reject(new Error('database or disk is full'))
    return super.append(...args)
  }
}

describe('readiness while the store fails to write', () => {
  let server: TestServer | undefined
  afterEach(async () => {
    await server?.close()
    server = undefined
  })

  it('/readyz fails from the first failed commit until a write succeeds, and the failures are counted', async () => {
    const store = new FlakyStore()
    server = await startTestServer({ store })
    const id = await server.conversation('alice', { bob: 'member' })
    const send = async (text: string) =>
      fetch(`${server!.url}/api/conversations/${id}/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenFor('alice')}` },
        body: JSON.stringify({ text }),
      })
    const readyz = async () => {
      const response = await fetch(`${server!.url}/readyz`)
      return { status: response.status, body: (await response.json()) as Record<string, unknown> }
    }
    expect((await readyz()).status).toBe(200)

    store.writesFail = true
    // Reads still work: only a failed commit shows that the store cannot take writes.
    expect((await readyz()).status).toBe(200)
    expect((await send('lost to a full disk')).status).toBe(503)
    const failing = await readyz()
    expect(failing.status).toBe(503)
    expect(failing.body).toMatchObject({ status: 'store not writable', reason: 'database or disk is full' })
    const metrics = await (await fetch(`${server.url}/metrics`)).text()
    expect(metrics).toMatch(/^ticks_persist_failures_total 1$/m)

    store.writesFail = false
    // The probe's own write shows the store is back; the next commit needs no help.
    expect(await readyz()).toEqual({ status: 200, body: { status: 'ready' } })
    expect((await send('after the disk was freed')).status).toBe(201)
  })
})

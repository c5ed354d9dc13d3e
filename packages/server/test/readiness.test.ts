import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { MemoryStore } from '../src/index.js'
import { startPostgres, type TestPostgres } from './helpers/postgres.js'
import { startTestServer, type TestServer, tokenFor, until } from './helpers/server.js'

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

describe('readiness while PostgreSQL is unreachable', () => {
  let postgres: TestPostgres
  let server: TestServer | undefined
  beforeAll(async () => {
    postgres = await startPostgres()
  }, 120_000)
  afterAll(async () => {
    await server?.close()
    await postgres?.close()
  }, 60_000)

  it('/readyz fails with the reason while PostgreSQL is down, and recovers by itself when it is back', async () => {
    server = await startTestServer({ store: await postgres.createDatabase(), postgres: { poolSize: 2 } })
    const readyz = async () => {
      const response = await fetch(`${server!.url}/readyz`)
      return { status: response.status, body: (await response.json()) as Record<string, unknown> }
    }
    const id = await server.conversation('alice', { bob: 'member' })
    expect(await readyz()).toEqual({ status: 200, body: { status: 'ready' } })

    await postgres.stop()
    const started = Date.now()
    // The pool's connections were cut: the first probe may meet one of them, the next a refusal.
    await until(async () => (await readyz()).status === 503, 5000, '/readyz to fail')
    const down = await readyz()
    expect(down.status).toBe(503)
    expect(down.body).toMatchObject({ status: 'store unavailable' })
    expect(down.body.reason).toMatch(/ECONNREFUSED|terminat/)
    expect(Date.now() - started).toBeLessThan(5000)

    await postgres.start()
    await until(async () => (await readyz()).status === 200, 10_000, '/readyz to recover')
    const response = await fetch(`${server.url}/api/conversations/${id}`, {
      headers: { authorization: `Bearer ${await tokenFor('alice')}` },
    })
    expect(response.status).toBe(200)
  }, 60_000)
})

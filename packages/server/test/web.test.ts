import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from './helpers/server.js'

describe('serving the web app', () => {
  let root: string
  let server: TestServer

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'ticks-web-'))
    await mkdir(join(root, 'assets'))
    await writeFile(join(root, 'index.html'), '<!doctype html><title>Ticks</title>')
    await writeFile(join(root, 'assets', 'app.js'), 'console.log("ticks")')
    server = await startTestServer({ webRoot: root })
  })
  afterAll(async () => {
    await server?.close()
    await rm(root, { recursive: true, force: true })
  })

  it('serves files, falls back to index.html for app paths, and keeps JSON 404s for the API', async () => {
    const asset = await fetch(`${server.url}/assets/app.js`)
    expect(asset.status).toBe(200)
    expect(await asset.text()).toBe('console.log("ticks")')

    // A reload on a deep link (/c/<id>, /admin) must boot the app, not 404.
    for (const path of ['/', '/c/some-conversation', '/admin']) {
      const page = await fetch(`${server.url}${path}`)
      expect(page.status, path).toBe(200)
      expect(await page.text()).toContain('<title>Ticks</title>')
    }

    const api = await fetch(`${server.url}/api/no-such-route`)
    expect(api.status).toBe(404)
    expect(await api.json()).toEqual({ error: { code: 'not-found', message: expect.any(String) } })
    const post = await fetch(`${server.url}/c/some-conversation`, { method: 'POST' })
    expect(post.status).toBe(404)
  })
})

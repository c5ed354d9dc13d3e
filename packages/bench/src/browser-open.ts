import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startServer } from '@ticks/server'
import { chromium, type Page } from 'playwright-core'
import { median, table } from './stats.js'

/**
 * Issue 15 in the browser: the built web app in Debian's Chromium opens a long conversation (the
 * author's view, so it opens at the bottom) on a fresh profile, then reloads into it. Time from
 * the click (or the reload) to the newest message on screen; message bubbles in the DOM then.
 * Goals: ≤ 300 ms to the first screen and ≤ 1 s for the reload at 20,000 messages (12 s and
 * 14.6 s before the window and the virtualized list).
 */

const webRoot = fileURLToPath(new URL('../../../apps/web/dist/', import.meta.url))
const BATCH = 100

interface Sample {
  openMs: number
  reloadMs: number
  bubbles: number
}

async function post(url: string, token: string, path: string, body: unknown): Promise<unknown> {
  const response = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`)
  return response.json()
}

/**
 * Installed in every page: each animation frame, notes (in page time, ms since the navigation)
 * when the newest message's bubble is first on screen. Timed in the page, so the harness's own
 * round trips do not count. A string, not a function: tsx's transform would add helpers the page
 * lacks.
 */
const watchNewest = (text: string): string => `(() => {
  document.addEventListener('click', () => { window.clickedAt = performance.now() }, true)
  const text = ${JSON.stringify(text)}
  const check = () => {
    const onScreen = [...document.querySelectorAll('article.bubble')].some((bubble) => {
      if (!bubble.textContent || !bubble.textContent.includes(text)) return false
      const box = bubble.getBoundingClientRect()
      return box.bottom > 0 && box.top < window.innerHeight
    })
    if (onScreen) window.newestAt = performance.now()
    else requestAnimationFrame(check)
  }
  requestAnimationFrame(check)
})()`

async function newestAt(page: Page): Promise<number> {
  // Arrow functions without inner functions: the app's CSP forbids evaluating strings.
  await page.waitForFunction(
    () => (window as unknown as { newestAt?: number }).newestAt !== undefined,
    null,
    {
      timeout: 120_000,
    },
  )
  return page.evaluate(() => (window as unknown as { newestAt: number }).newestAt)
}

async function openOnce(messages: number, runs: number): Promise<Sample[]> {
  const data = mkdtempSync(join(tmpdir(), 'ticks-bench-browser-'))
  // Dev mode: the app signs in by name. The window is the server's default (1,000).
  const { app, url } = await startServer({ port: 0, host: '127.0.0.1', data, logger: false, webRoot })
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  })
  try {
    const { token } = (await post(url, '', '/api/session', { userId: 'alice' })) as { token: string }
    const { id } = (await post(url, token, '/api/conversations', {
      title: 'Long',
      members: ['bob', 'carol', 'dave', 'erin'],
    })) as { id: string }
    for (let start = 0; start < messages; start += BATCH) {
      const texts = Array.from({ length: Math.min(BATCH, messages - start) }, (_, i) => ({
        text: `message ${start + i + 1}`,
      }))
      await post(url, token, `/api/conversations/${id}/messages`, { messages: texts })
    }
    const newest = `message ${messages}`
    const samples: Sample[] = []
    for (let run = 0; run < runs; run++) {
      const context = await browser.newContext({ viewport: { width: 1200, height: 800 } })
      await context.addInitScript({ content: watchNewest(newest) })
      const page = await context.newPage()
      await page.goto(url)
      await page.getByLabel('Your name').fill('alice')
      await page.getByRole('button', { name: 'Sign in' }).click()
      const row = page.locator('a.conversation-row', { hasText: 'Long' })
      await row.waitFor({ timeout: 60_000 })
      // The click and the first frame showing the newest message, both in page time.
      await row.click()
      const openMs =
        (await newestAt(page)) -
        (await page.evaluate(() => (window as unknown as { clickedAt: number }).clickedAt))
      // Let the device store what it received before the reload reads it back.
      await page.waitForTimeout(1500)
      await page.reload()
      // Page time starts at the reload's navigation.
      const reloadMs = await newestAt(page)
      const bubbles = await page.locator('article.bubble').count()
      samples.push({ openMs, reloadMs, bubbles })
      await context.close()
    }
    return samples
  } finally {
    await browser.close()
    await app.close()
    rmSync(data, { recursive: true, force: true })
  }
}

export async function runBrowserOpen(sizes: readonly number[], runs = 3): Promise<string> {
  const rows: (string | number)[][] = []
  for (const messages of sizes) {
    const samples = await openOnce(messages, runs)
    rows.push([
      messages.toLocaleString(),
      median(samples.map((s) => s.openMs)),
      Math.max(...samples.map((s) => s.openMs)),
      median(samples.map((s) => s.reloadMs)),
      Math.max(...samples.map((s) => s.reloadMs)),
      Math.max(...samples.map((s) => s.bubbles)),
    ])
  }
  return table(
    `Browser: the web app in Chromium opens a long chat on a fresh profile, then reloads into it (${runs} runs; goals at 20,000: open ≤ 300 ms, reload ≤ 1 s)`,
    [
      'messages',
      'open ms (median)',
      'open ms (max)',
      'reload ms (median)',
      'reload ms (max)',
      'bubbles in the DOM',
    ],
    rows,
  )
}

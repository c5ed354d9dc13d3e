import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { startServer } from '@ticks/server'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

/**
 * The whole product in a real browser: the built app (service worker included) served by the real
 * server, two users in two browser contexts, offline writes, a reload while offline, reconnection
 * and every tick on the way. Screenshots of each step go to test-output/.
 */

const outputDir = fileURLToPath(new URL('../test-output/', import.meta.url))
const webRoot = fileURLToPath(new URL('../dist/', import.meta.url))
let server: Awaited<ReturnType<typeof startServer>> | undefined
let browser: Browser | undefined

beforeAll(async () => {
  mkdirSync(outputDir, { recursive: true })
  server = await startServer({ port: 0, host: '127.0.0.1', store: 'memory', logger: false, webRoot })
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  })
}, 30_000)

afterAll(async () => {
  await browser?.close()
  await server?.app.close()
})

async function open(name: string, viewport: { width: number; height: number }) {
  const context = await browser!.newContext({ viewport, serviceWorkers: 'allow' })
  const page = await context.newPage()
  page.setDefaultTimeout(15_000)
  await page.goto(server!.url)
  await page.getByLabel('Your name').fill(name)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('navigation', { name: 'Conversations' }).waitFor()
  return { context, page }
}

const shot = (page: Page, name: string) => page.screenshot({ path: `${outputDir}${name}.png` })

/** Alice's own bubbles for the offline messages, in order. */
const offlineBubbles = (page: Page) => page.locator('article.bubble--own', { hasText: 'Offline note' })

async function waitForStatuses(page: Page, statuses: string[]): Promise<void> {
  await page.waitForFunction(
    (expected) => {
      const bubbles = [...document.querySelectorAll('article.bubble--own')].filter((bubble) =>
        bubble.textContent?.includes('Offline note'),
      )
      return (
        bubbles.length === expected.length &&
        bubbles.every((bubble, i) => bubble.getAttribute('data-status') === expected[i])
      )
    },
    statuses,
    { timeout: 15_000 },
  )
}

const labels = (page: Page) =>
  offlineBubbles(page).evaluateAll((bubbles) =>
    bubbles.map((bubble) => bubble.querySelector('.ticks')?.getAttribute('aria-label')),
  )

// Tall enough that Bob's short window cannot show all three at once: reading must follow scrolling.
const noteText = (n: number) => `Offline note ${n}\n${'More on this in a moment.\n'.repeat(5)}Done.`

describe('Ticks in a real browser', () => {
  it('Alice writes offline and reloads; online she gets ✓, Bob ✓✓, and blue ✓✓ as he scrolls', async () => {
    const alice: { context: BrowserContext; page: Page } = await open('alice', { width: 960, height: 640 })
    const a = alice.page

    await a.getByRole('button', { name: 'New conversation' }).click()
    await a.getByLabel('Title').fill('Lunch plans')
    await a.getByLabel('Members').fill('bob')
    await a.getByRole('button', { name: 'Create' }).click()
    // The synced banner folds away after a moment, so wait for it in the DOM, not on screen.
    await a.locator('.connection-banner[data-state="synced"]').waitFor({ state: 'attached' })
    // The app shell must be cached before the network goes, or the offline reload has nothing to boot.
    await a.evaluate(async () => {
      const registration = await navigator.serviceWorker.ready
      return registration.active?.state
    })

    // 1. Offline: three messages, each with a clock.
    await alice.context.setOffline(true)
    await a.getByText('You are offline.').waitFor()
    const composer = a.getByRole('textbox', { name: 'Message' })
    for (const n of [1, 2, 3]) {
      await composer.fill(noteText(n))
      await composer.press('Enter')
    }
    await waitForStatuses(a, ['pending', 'pending', 'pending'])
    expect(await labels(a)).toEqual(['Waiting to send', 'Waiting to send', 'Waiting to send'])
    await a.getByText('3 messages will be sent when you reconnect.').waitFor()
    await shot(a, '1-alice-offline-pending')

    // 2. Reload while offline: the service worker serves the app, IndexedDB the outbox.
    await a.reload()
    await waitForStatuses(a, ['pending', 'pending', 'pending'])
    // Chromium's offline emulation leaves navigator.onLine true in the reloaded document, so the app
    // can only see that the socket fails: "offline" or "reconnecting" are both honest, "synced" not.
    await a
      .locator('.connection-banner[data-state="offline"], .connection-banner[data-state="connecting"]')
      .waitFor()
    await shot(a, '2-alice-reloaded-offline')

    // 3. Back online: the server stamps them, ✓ (Bob has never opened the app).
    await alice.context.setOffline(false)
    await waitForStatuses(a, ['sent', 'sent', 'sent'])
    expect(await labels(a)).toEqual(['Sent', 'Sent', 'Sent'])
    await shot(a, '3-alice-online-sent')

    // 4. Bob opens the app (his inbox, not the conversation): delivered, ✓✓ grey.
    const bob = await open('bob', { width: 960, height: 480 })
    const b = bob.page
    await waitForStatuses(a, ['delivered', 'delivered', 'delivered'])
    expect(await labels(a)).toEqual(['Delivered to bob', 'Delivered to bob', 'Delivered to bob'])
    await b.getByRole('img', { name: '3 unread' }).waitFor()
    await shot(a, '4-alice-delivered')
    await shot(b, '4-bob-inbox-unread')

    // 5. Bob opens the conversation at the first unread: what fits on screen is read, not the rest.
    await b.getByRole('link', { name: /Lunch plans/ }).click()
    await b.getByRole('separator').filter({ hasText: 'Unread messages' }).waitFor()
    await a.waitForFunction(() => {
      const first = [...document.querySelectorAll('article.bubble--own')].find((bubble) =>
        bubble.textContent?.includes('Offline note 1'),
      )
      return first?.getAttribute('data-status') === 'read'
    })
    await a.waitForTimeout(500)
    const afterOpening = await offlineBubbles(a).evaluateAll((bubbles) =>
      bubbles.map((bubble) => bubble.getAttribute('data-status')),
    )
    expect(afterOpening[2]).toBe('delivered')
    await shot(b, '5-bob-opened-at-first-unread')
    await shot(a, '5-alice-partly-read')

    // 6. Bob scrolls down to the last one: all three blue ✓✓ on Alice's screen.
    await b.getByRole('log', { name: 'Messages' }).hover()
    await b.mouse.wheel(0, 2000)
    await waitForStatuses(a, ['read', 'read', 'read'])
    expect(await labels(a)).toEqual(['Read by bob', 'Read by bob', 'Read by bob'])
    const tickColour = await a
      .locator('article.bubble--own[data-status="read"] .ticks')
      .first()
      .evaluate((element) => getComputedStyle(element).color)
    expect(tickColour).toBe('rgb(29, 140, 248)')
    await shot(b, '6-bob-scrolled')
    await shot(a, '6-alice-read')

    await alice.context.close()
    await bob.context.close()
  }, 60_000)
})

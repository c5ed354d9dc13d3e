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

async function open(
  name: string,
  viewport: { width: number; height: number },
  prepare?: (context: BrowserContext) => Promise<void>,
  url = server!.url,
) {
  const context = await browser!.newContext({ viewport, serviceWorkers: 'allow' })
  await prepare?.(context)
  const page = await context.newPage()
  page.setDefaultTimeout(15_000)
  await page.goto(url)
  // The sign-in screen's one field has the focus.
  await page.waitForFunction(() => document.activeElement?.id === 'sign-in-name')
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

/** Create a conversation from the sidebar; it opens, and this waits until it is synced. */
async function createConversation(page: Page, title: string, members: string): Promise<void> {
  await page.getByRole('button', { name: 'New conversation' }).click()
  await page.getByLabel('Title').fill(title)
  await page.getByLabel('Members').fill(members)
  await page.getByRole('button', { name: 'Create' }).click()
  await page.getByRole('heading', { name: title }).waitFor()
  await page.locator('.connection-banner[data-state="synced"]').waitFor({ state: 'attached' })
}

async function sendMessage(page: Page, text: string): Promise<void> {
  const composer = page.getByRole('textbox', { name: 'Message' })
  await composer.fill(text)
  await composer.press('Enter')
}

/** Wait until the own bubble holding `text` has one of `statuses`. */
async function waitForOwnStatus(page: Page, text: string, statuses: string[]): Promise<void> {
  await page.waitForFunction(
    ([wanted, accepted]) =>
      [...document.querySelectorAll('article.bubble--own')].some(
        (bubble) =>
          bubble.textContent?.includes(wanted as string) &&
          (accepted as string[]).includes(bubble.getAttribute('data-status') ?? ''),
      ),
    [text, statuses] as const,
    { timeout: 15_000 },
  )
}

const conversationLink = (page: Page, title: string) =>
  page.getByRole('navigation', { name: 'Conversations' }).getByRole('link', { name: new RegExp(title) })

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
  it('back online without a reload, the open chat and the others in the list reconnect by themselves', async () => {
    const carol = await open('carol', { width: 960, height: 640 })
    const c = carol.page
    await createConversation(c, 'Errands', 'dave')
    await createConversation(c, 'Plans', 'dave')

    // The browser says it is offline (no reload): every socket is dropped at once.
    await carol.context.setOffline(true)
    await c.getByText('You are offline.').waitFor()
    await conversationLink(c, 'Errands').click()
    await sendMessage(c, 'Errand written offline')
    await waitForOwnStatus(c, 'Errand written offline', ['pending'])
    await conversationLink(c, 'Plans').click()
    await sendMessage(c, 'Plan written offline')
    await waitForOwnStatus(c, 'Plan written offline', ['pending'])
    await shot(c, '7-carol-offline-two-conversations')

    // Back online: nothing is clicked, no "Retry now".
    await carol.context.setOffline(false)
    await waitForOwnStatus(c, 'Plan written offline', ['sent', 'delivered', 'read'])
    await c.locator('.connection-banner[data-state="synced"]').waitFor({ state: 'attached' })

    // Dave gets both, the one from the conversation Carol did not have open too.
    const dave = await open('dave', { width: 960, height: 640 })
    const d = dave.page
    await conversationLink(d, 'Errands').filter({ hasText: 'Errand written offline' }).waitFor()
    await conversationLink(d, 'Plans').filter({ hasText: 'Plan written offline' }).waitFor()

    // Carol's other conversation is live again: Dave's reply reaches her list, and his tick says so.
    await conversationLink(d, 'Errands').click()
    await sendMessage(d, 'Got the errand')
    await conversationLink(c, 'Errands').filter({ hasText: 'dave: Got the errand' }).waitFor()
    await waitForOwnStatus(d, 'Got the errand', ['delivered', 'read'])
    await conversationLink(c, 'Errands').click()
    await waitForOwnStatus(c, 'Errand written offline', ['delivered', 'read'])
    await shot(c, '7-carol-back-online')

    await carol.context.close()
    await dave.context.close()
  }, 60_000)

  it('opened by its URL, a chat starts at the first unread message and reads only what is shown', async () => {
    const erin = await open('erin', { width: 960, height: 640 })
    const e = erin.page
    await createConversation(e, 'Long thread', 'frank')
    const url = e.url()
    await sendMessage(e, 'Read long ago')

    const frank = await open('frank', { width: 960, height: 480 })
    await conversationLink(frank.page, 'Long thread').click()
    await waitForOwnStatus(e, 'Read long ago', ['read'])
    await frank.page.close()

    for (let n = 1; n <= 6; n++) await sendMessage(e, `Unread ${n}\n${'A line of news.\n'.repeat(4)}End.`)
    await waitForOwnStatus(e, 'Unread 6', ['sent'])

    // A bookmark or a reload: the page boots on the conversation while its messages still load.
    const f = await frank.context.newPage()
    f.setDefaultTimeout(15_000)
    await f.goto(url)
    const divider = f.getByRole('separator').filter({ hasText: 'Unread messages' })
    await divider.waitFor()
    await waitForOwnStatus(e, 'Unread 1', ['read'])
    await waitForOwnStatus(e, 'Unread 6', ['delivered', 'read'])
    await f.waitForTimeout(1000)
    const statuses = await e
      .locator('article.bubble--own', { hasText: 'Unread' })
      .evaluateAll((bubbles) => bubbles.map((bubble) => bubble.getAttribute('data-status')))
    expect(statuses).toHaveLength(6)
    expect(statuses.at(-1)).toBe('delivered') // below Frank's screen: not read
    await shot(f, '8-frank-opened-by-url')

    await erin.context.close()
    await frank.context.close()
  }, 60_000)

  it('on a phone, the list fits the screen and the new-messages pill stays above a long draft', async () => {
    const phone = { width: 375, height: 667 }
    const gina = await open('gina', { width: 960, height: 640 })
    const g = gina.page
    await createConversation(g, 'A conversation whose title goes on and on and on', 'hank')
    for (let n = 1; n <= 12; n++) await sendMessage(g, `Old ${n}\nsecond line`)
    await sendMessage(g, 'A last message long enough that it can never fit in the preview of one row')

    const hank = await open('hank', phone)
    const h = hank.page
    await conversationLink(h, 'A conversation').filter({ hasText: 'never fit' }).waitFor()
    await h.getByRole('img', { name: '13 unread' }).waitFor()
    const fits = await h.evaluate(() => {
      const right = (element: Element | null) => element?.getBoundingClientRect().right ?? Number.NaN
      return {
        page: document.documentElement.scrollWidth,
        sidebar: right(document.querySelector('.sidebar')),
        signOut: right(
          [...document.querySelectorAll('button')].find((b) => b.textContent === 'Sign out') ?? null,
        ),
        badge: right(document.querySelector('.unread-badge')),
      }
    })
    await shot(h, '9-hank-phone-list')
    expect(fits.page).toBeLessThanOrEqual(375)
    expect(fits.sidebar).toBeLessThanOrEqual(375)
    expect(fits.signOut).toBeLessThanOrEqual(375)
    expect(fits.badge).toBeLessThanOrEqual(375)

    // Hank reads further up while drafting a reply of several lines; Gina writes.
    await conversationLink(h, 'A conversation').click()
    await h.getByRole('log', { name: 'Messages' }).hover()
    await h.mouse.wheel(0, 5000)
    await h.waitForTimeout(300)
    await h.mouse.wheel(0, -600)
    await h.waitForTimeout(300)
    const draft = h.getByRole('textbox', { name: 'Message' })
    await draft.fill('line 1\nline 2\nline 3\nline 4\nline 5')
    await draft.press('End') // an input event, so the box grows to the draft
    await draft.press('Shift+Enter')
    await sendMessage(g, 'Something new')
    const pill = h.getByRole('button', { name: /1 new message/ })
    await pill.waitFor()
    const pillBottom = (await pill.boundingBox())!.y + (await pill.boundingBox())!.height
    const composerTop = (await h.locator('.composer').boundingBox())!.y
    await shot(h, '9-hank-pill-above-draft')
    expect(pillBottom).toBeLessThanOrEqual(composerTop)

    await gina.context.close()
    await hank.context.close()
  }, 60_000)

  it('a missing conversation cannot be written to, and a refused session leads back to sign-in', async () => {
    const ivan = await open('ivan', { width: 960, height: 640 })
    const i = ivan.page
    await createConversation(i, 'Ivan and Judy', 'judy')

    await i.goto(`${server!.url}/c/does-not-exist`)
    await i.getByText('This conversation does not exist').waitFor()
    expect(await i.getByRole('textbox', { name: 'Message' }).isDisabled()).toBe(true)
    expect(await i.getByRole('button', { name: 'Retry now' }).count()).toBe(0)

    // The token is no longer accepted (as after a key rotation): the app says so and how to go on.
    await conversationLink(i, 'Ivan and Judy').click()
    await i.evaluate(() => {
      const session = JSON.parse(localStorage.getItem('ticks.session')!)
      localStorage.setItem('ticks.session', JSON.stringify({ ...session, token: 'no.longer.valid' }))
    })
    await i.reload()
    // The list's request and the chat's socket are refused separately: wait for both.
    await i.locator('.chat').getByRole('alert').filter({ hasText: 'Your session has expired' }).waitFor()
    await i
      .getByRole('navigation', { name: 'Conversations' })
      .getByRole('alert')
      .filter({ hasText: 'Your session has expired' })
      .waitFor()
    expect(await i.getByRole('button', { name: 'Retry now' }).count()).toBe(0)
    await shot(i, '10-ivan-session-expired')
    await i.locator('.chat').getByRole('button', { name: 'Sign in again' }).click()
    await i.getByLabel('Your name').waitFor()
    expect(await i.evaluate(() => localStorage.getItem('ticks.session'))).toBeNull()

    await ivan.context.close()
  }, 60_000)

  it('one socket for every conversation; a conversation someone adds us to appears live, unread in the title', async () => {
    const ivy = await open('ivy', { width: 960, height: 640 })
    const e = ivy.page
    await createConversation(e, 'Book club', 'jack')
    // Created, the chat is open with the composer focused: the first message can be typed at once.
    await e.waitForFunction(() => document.activeElement?.id === 'composer-input')
    await createConversation(e, 'Climbing', 'jack')
    // Ivy's list (the inbox feed) and the chat on screen share one socket (the multiplexed /sync),
    // whatever the number of conversations: the server counts one, once the sockets of the
    // contexts closed before have gone.
    const openSockets = async () =>
      Number(/^ticks_sockets (\d+)$/m.exec((await server!.app.inject({ url: '/metrics' })).body)?.[1])
    const deadline = Date.now() + 10_000
    while ((await openSockets()) !== 1 && Date.now() < deadline) await e.waitForTimeout(100)
    expect(await openSockets()).toBe(1)

    // Jack is signed in and looking at another page of the app: Ivy adds him to a new
    // conversation and writes; it appears in his list without a reload, the title counts it.
    const jack = await open('jack', { width: 960, height: 640 })
    const f = jack.page
    await conversationLink(f, 'Climbing').waitFor()
    const started = Date.now()
    await createConversation(e, 'Surprise party', 'jack')
    await sendMessage(e, 'Shh, it is for Gina')
    await conversationLink(f, 'Surprise party').filter({ hasText: 'Shh, it is for Gina' }).waitFor()
    // Live from the feed, well within the 5 s the app used to poll at.
    expect(Date.now() - started).toBeLessThan(4000)
    await f.waitForFunction(() => /^\(\d+\) Ticks$/.test(document.title))
    expect(await f.title()).toBe('(1) Ticks')
    await conversationLink(f, 'Surprise party').click()
    await f.waitForFunction(() => document.title === 'Ticks')
    await waitForOwnStatus(e, 'Shh, it is for Gina', ['read'])

    await shot(f, '9-jack-live-list')
    await ivy.context.close()
    await jack.context.close()
  }, 60_000)

  it('asked politely, it notifies a message for a chat not on screen while the page is hidden', async () => {
    const kim = await open('kim', { width: 960, height: 640 })
    const k = kim.page
    await createConversation(k, 'Lunch', 'leo')
    await createConversation(k, 'Dinner', 'leo')
    const leo = await open('leo', { width: 960, height: 640 }, async (context) => {
      await context.grantPermissions(['notifications'], { origin: server!.url })
      // The browser's own Notification, recorded so the test can see what was shown.
      await context.addInitScript(() => {
        const Real = window.Notification
        const shown: { title: string; body?: string }[] = []
        ;(window as unknown as { shown: typeof shown }).shown = shown
        window.Notification = class extends Real {
          constructor(title: string, options?: NotificationOptions) {
            super(title, options)
            shown.push({ title, body: options?.body })
          }
        } as typeof Notification
      })
    })
    const l = leo.page
    // Granted before asking here (the test's context did it), so nothing is offered; the offer is
    // for a browser that has not been asked yet.
    await conversationLink(l, 'Dinner').click()
    await l.getByRole('heading', { name: 'Dinner' }).waitFor()
    expect(await l.getByRole('button', { name: 'Turn on notifications' }).count()).toBe(0)
    // Leo switches to another tab.
    await l.evaluate(() => {
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => true })
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' })
      document.dispatchEvent(new Event('visibilitychange'))
    })
    await conversationLink(k, 'Lunch').click()
    await sendMessage(k, 'Noodles at one?')
    await l.waitForFunction(() => (window as unknown as { shown: unknown[] }).shown.length > 0)
    // The first message of a chat: its ticks' tooltip opens below, not cut off at the top.
    const first = k.locator('article.bubble--own', { hasText: 'Noodles at one?' })
    await first.locator('.ticks').hover()
    const tooltip = first.locator('.tooltip')
    await tooltip.waitFor()
    const [tip, scroller] = await Promise.all([tooltip.boundingBox(), k.locator('.messages').boundingBox()])
    expect(tip!.y).toBeGreaterThanOrEqual(scroller!.y)
    expect(await l.evaluate(() => (window as unknown as { shown: unknown[] }).shown)).toEqual([
      { title: 'Lunch', body: 'kim: Noodles at one?' },
    ])
    // A message in the chat on screen notifies nobody.
    await conversationLink(k, 'Dinner').click()
    await sendMessage(k, 'Or pizza tonight')
    await conversationLink(l, 'Dinner').filter({ hasText: 'Or pizza tonight' }).waitFor()
    expect(await l.evaluate(() => (window as unknown as { shown: unknown[] }).shown)).toHaveLength(1)
    await kim.context.close()
    await leo.context.close()
  }, 60_000)

  it('offers to turn on notifications, and only on request asks the browser', async () => {
    const mia = await open('mia', { width: 960, height: 640 })
    const m = mia.page
    const offer = m.getByRole('button', { name: 'Turn on notifications' })
    await offer.waitFor()
    await mia.context.grantPermissions(['notifications'], { origin: server!.url })
    await offer.click()
    await offer.waitFor({ state: 'detached' })
    await mia.context.close()
  }, 60_000)

  it('reply, react, edit and delete between two users, one of them offline for a while, converge', async () => {
    const pia = await open('pia', { width: 960, height: 640 })
    const p = pia.page
    await createConversation(p, 'Weekend', 'quinn')
    await sendMessage(p, 'Hike on Saturday?')
    const quinn = await open('quinn', { width: 960, height: 640 })
    const q = quinn.page
    await conversationLink(q, 'Weekend').click()
    await waitForOwnStatus(p, 'Hike on Saturday?', ['read'])

    /** The bubble whose own text (not a quote of it) holds `text`. */
    const bubble = (page: Page, text: string) =>
      page.locator('article.bubble', { has: page.locator('.bubble__text', { hasText: text }) })
    const menu = async (page: Page, text: string, subject: string, item: string) => {
      const target = bubble(page, text)
      await target.hover()
      await target.getByRole('button', { name: `Actions for ${subject}` }).click()
      await page.getByRole('menuitem', { name: item }).click()
    }
    const react = async (page: Page, text: string, subject: string, emoji: string) => {
      const target = bubble(page, text)
      await target.hover()
      await target.getByRole('button', { name: `React to ${subject}` }).click()
      await page.getByRole('button', { name: `React with ${emoji}` }).click()
    }

    // Quinn replies, naming Pia: she sees the quote, the mention marked for her.
    await menu(q, 'Hike on Saturday?', 'message from pia', 'Reply')
    await q.getByText('Replying to pia').waitFor()
    await sendMessage(q, 'Yes! @pia bring snacks')
    const reply = bubble(p, 'bring snacks')
    await reply.waitFor()
    expect(await reply.getByRole('button', { name: /In reply to You/ }).textContent()).toContain(
      'Hike on Saturday?',
    )
    expect(await reply.getAttribute('class')).toContain('bubble--mentioned')
    expect(await reply.locator('.mention--me').textContent()).toBe('@pia')

    // Pia reacts and fixes her message: Quinn sees both, and his quote follows the edit.
    await react(p, 'bring snacks', 'message from quinn', '👍')
    await bubble(q, 'bring snacks').getByRole('button', { name: '👍 1: pia' }).waitFor()
    await menu(p, 'Hike on Saturday?', 'your message', 'Edit')
    await p.getByRole('textbox', { name: 'Message' }).fill('Hike on Sunday?')
    await p.getByRole('textbox', { name: 'Message' }).press('Enter')
    await bubble(q, 'Hike on Sunday?').getByText('edited').waitFor()
    await q.waitForFunction(() =>
      document.querySelector('.reply-quote')?.textContent?.includes('Hike on Sunday?'),
    )
    // Edited after it was read: still read.
    expect(await bubble(p, 'Hike on Sunday?').getAttribute('data-status')).toBe('read')
    await sendMessage(q, 'Sent by mistake')
    await bubble(p, 'Sent by mistake').waitFor()
    await shot(p, '12-pia-reply-reaction-edit')

    // Quinn goes offline and acts there; Pia acts meanwhile.
    await quinn.context.setOffline(true)
    await q.getByText('You are offline.').waitFor()
    await react(q, 'Hike on Sunday?', 'message from pia', '❤️')
    await menu(q, 'bring snacks', 'your message', 'Edit')
    await q.getByRole('textbox', { name: 'Message' }).fill('Yes! @pia bring snacks and water')
    await q.getByRole('textbox', { name: 'Message' }).press('Enter')
    await menu(q, 'Sent by mistake', 'your message', 'Delete for everyone')
    await q.getByRole('alertdialog').getByRole('button', { name: 'Delete for everyone' }).click()
    await bubble(q, 'This message was deleted').waitFor()
    await react(p, 'bring snacks', 'message from quinn', '😂')
    await shot(q, '12-quinn-offline-actions')

    // Back online: both show the same texts, edited marks, tombstone and reactions.
    await quinn.context.setOffline(false)
    const view = (page: Page) =>
      page.evaluate(() =>
        [...document.querySelectorAll<HTMLElement>('article.bubble')].map((bubble) => ({
          id: bubble.dataset.messageId,
          text: bubble.querySelector('.bubble__text')?.textContent,
          edited: bubble.querySelector('.bubble__edited') !== null,
          deleted: bubble.classList.contains('bubble--deleted'),
          quote: bubble.querySelector('.reply-quote')?.textContent,
          // Replies and edits are signed like any message: no "Unverified" on them.
          verification: bubble.querySelector('.bubble__verification')?.textContent,
          reactions: [...bubble.querySelectorAll('.reaction-chip')].map((chip) => chip.textContent),
        })),
      )
    /** What each reader should see: the quote names "You" for Pia, "pia" for Quinn. */
    const expected = (quoted: string) => [
      { text: 'Hike on Sunday?', edited: true, deleted: false, reactions: ['❤️1'] },
      {
        text: 'Yes! @pia bring snacks and water',
        edited: true,
        deleted: false,
        quote: `In reply to ${quoted}Hike on Sunday?`,
        reactions: ['👍1', '😂1'],
      },
      { text: 'This message was deleted', edited: false, deleted: true, reactions: [] },
    ]
    const withoutIds = (rows: Awaited<ReturnType<typeof view>>) => rows.map(({ id: _, ...rest }) => rest)
    /** The page's bubbles once they show `wanted` (or after 15 s, whatever they show then). */
    const converged = async (page: Page, wanted: unknown) => {
      const deadline = Date.now() + 15_000
      let seen = await view(page)
      while (JSON.stringify(withoutIds(seen)) !== JSON.stringify(wanted) && Date.now() < deadline) {
        await page.waitForTimeout(100)
        seen = await view(page)
      }
      return seen
    }
    const [onPia, onQuinn] = await Promise.all([converged(p, expected('You')), converged(q, expected('pia'))])
    expect(withoutIds(onPia)).toEqual(expected('You'))
    expect(withoutIds(onQuinn)).toEqual(expected('pia'))
    expect(onQuinn.map((row) => row.id)).toEqual(onPia.map((row) => row.id))
    // Each sees their own reaction highlighted, the other's not; the tombstone kept its ticks.
    expect(
      await bubble(p, 'snacks and water')
        .getByRole('button', { name: '😂 1: You' })
        .getAttribute('aria-pressed'),
    ).toBe('true')
    expect(
      await bubble(q, 'snacks and water')
        .getByRole('button', { name: '😂 1: pia' })
        .getAttribute('aria-pressed'),
    ).toBe('false')
    await waitForOwnStatus(q, 'This message was deleted', ['delivered', 'read'])
    await shot(p, '12-pia-converged')
    await shot(q, '12-quinn-converged')

    await pia.context.close()
    await quinn.context.close()
  }, 60_000)

  it('a long conversation opens at the bottom and scrolls back through sealed pages with a bounded DOM', async () => {
    // A server of its own with a window of 20 sequenced messages: the rest is sealed history.
    const long = await startServer({
      port: 0,
      host: '127.0.0.1',
      store: 'memory',
      logger: false,
      webRoot,
      historyWindow: 20,
    })
    try {
      const rest = async (path: string, body: unknown, token?: string) => {
        const response = await fetch(long.url + path, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
          body: JSON.stringify(body),
        })
        expect(response.ok).toBe(true)
        return (await response.json()) as { token: string; id: string }
      }
      const { token } = await rest('/api/session', { userId: 'nora' })
      const { id } = await rest('/api/conversations', { title: 'Archive', members: ['owen'] }, token)
      const COUNT = 300
      for (let n = 1; n <= COUNT; n++)
        await rest(`/api/conversations/${id}/messages`, { text: `Archive ${n}` }, token)

      const nora = await open('nora', { width: 960, height: 640 }, undefined, long.url)
      const p = nora.page
      await conversationLink(p, 'Archive').click()
      await p.getByText(`Archive ${COUNT}`, { exact: true }).waitFor()
      /** The message numbers in the DOM, in order, and where the first one on screen sits. */
      const view = () =>
        p.evaluate(() => {
          const scroller = document.querySelector<HTMLElement>('.messages')!
          const top = scroller.getBoundingClientRect().top
          const bubbles = [...document.querySelectorAll<HTMLElement>('article.bubble')]
          const numbers = bubbles.map((b) => Number(b.querySelector('.bubble__text')?.textContent?.slice(8)))
          const onScreen = bubbles.find((b) => b.getBoundingClientRect().bottom > top)
          return {
            numbers,
            scrollTop: scroller.scrollTop,
            atBottom: scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 50,
            first: onScreen && {
              id: onScreen.dataset.messageId!,
              y: onScreen.getBoundingClientRect().top - top,
            },
          }
        })
      // Where it opens is decided once it has synced: at the bottom, as nothing is unread.
      await p.waitForFunction(() => {
        const scroller = document.querySelector<HTMLElement>('.messages')!
        return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 50
      })
      const opening = await view()
      expect(opening.numbers.at(-1)).toBe(COUNT)
      await shot(p, '11-nora-long-conversation-bottom')

      const seen = new Set<number>()
      let mostNodes = 0
      for (let step = 0; step < 40 && !seen.has(1); step++) {
        const before = await view()
        mostNodes = Math.max(mostNodes, before.numbers.length)
        // Consecutive and in order, whatever part of the conversation is rendered.
        expect(before.numbers).toEqual(before.numbers.map((_, i) => before.numbers[0]! + i))
        for (const n of before.numbers) seen.add(n)
        const oldest = before.numbers[0]!
        if (oldest === 1) break
        // Up by a screen at a time, as a reader would; near the top the next page comes in.
        await p.getByRole('log', { name: 'Messages' }).hover()
        await p.mouse.wheel(0, -1500)
        await p.waitForFunction(
          (n) =>
            [...document.querySelectorAll('article.bubble')].some((b) =>
              b.textContent?.includes(`Archive ${n}`),
            ),
          Math.max(1, oldest - 10),
        )
        const after = await view()
        mostNodes = Math.max(mostNodes, after.numbers.length)
      }
      await p.getByText('The beginning of the conversation').waitFor()
      for (const n of (await view()).numbers) seen.add(n)
      expect(seen.size).toBe(COUNT)
      expect(mostNodes).toBeLessThanOrEqual(60)
      await shot(p, '11-nora-long-conversation-top')

      // The place is kept while an older page arrives: with the list at the top of the first page,
      // a reload shows the window; scrolling up, the message on screen stays where it is.
      await p.reload()
      await p.getByText(`Archive ${COUNT}`, { exact: true }).waitFor()
      // Opened (at the bottom, nothing being unread) before the reader moves: a scroll made before
      // the chat has picked where to open is overridden by it.
      await p.waitForFunction(() => {
        const scroller = document.querySelector<HTMLElement>('.messages')!
        return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 50
      })
      await p.evaluate(() => {
        const scroller = document.querySelector<HTMLElement>('.messages')!
        scroller.scrollTop = 1400
      })
      // Settled there first: 1,400 px from the top may already fetch the page above, whose arrival
      // moves the scroll position by its height; the reader's next scroll starts from where it left.
      let settled = await view()
      for (let i = 0; i < 20; i++) {
        await p.waitForTimeout(150)
        const next = await view()
        const loading = await p.getByText('Loading earlier messages…').count()
        if (loading === 0 && next.scrollTop === settled.scrollTop && next.first?.id === settled.first?.id)
          break
        settled = next
      }
      const held = await view()
      await p.evaluate(() => {
        document.querySelector<HTMLElement>('.messages')!.scrollTop -= 1000
      })
      await p.waitForTimeout(500)
      const moved = await p.evaluate((id) => {
        const scroller = document.querySelector<HTMLElement>('.messages')!
        const bubble = document.querySelector<HTMLElement>(`[data-message-id="${id}"]`)
        return bubble && bubble.getBoundingClientRect().top - scroller.getBoundingClientRect().top
      }, held.first!.id)
      // Scrolled by 1000 px, whatever arrived above meanwhile.
      expect(Math.abs(moved! - (held.first!.y + 1000))).toBeLessThanOrEqual(2)

      // Owen never read any of it: the chat opens at his first unread message, deep in sealed history.
      const owen = await open('owen', { width: 960, height: 640 }, undefined, long.url)
      const o = owen.page
      await conversationLink(o, 'Archive').click()
      const divider = o.getByRole('separator').filter({ hasText: 'Unread messages' })
      await divider.waitFor()
      expect(
        await o.evaluate(
          () =>
            document.querySelector('.unread-divider')?.nextElementSibling?.querySelector('.bubble__text')
              ?.textContent,
        ),
      ).toBe('Archive 1')
      expect(await o.locator('article.bubble').count()).toBeLessThanOrEqual(60)
      await shot(o, '11-owen-first-unread-in-history')
      await nora.context.close()
      await owen.context.close()
    } finally {
      await long.app.close()
    }
  }, 120_000)
})

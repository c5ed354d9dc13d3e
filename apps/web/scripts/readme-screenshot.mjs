// Regenerates docs/screenshot.png: a three-person chat driven in Chromium against the built app and
// server. Needs `npm run build` at the root first. Run: node apps/web/scripts/readme-screenshot.mjs

import { fileURLToPath } from 'node:url'
import { startServer } from '@ticks/server'
import { chromium } from 'playwright-core'

const webRoot = fileURLToPath(new URL('../dist/', import.meta.url))
const { app, url } = await startServer({
  port: 0,
  host: '127.0.0.1',
  store: 'memory',
  logger: false,
  webRoot,
})
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run'],
})
try {
  const open = async (name, viewport = { width: 880, height: 540 }) => {
    const context = await browser.newContext({ viewport })
    const page = await context.newPage()
    page.setDefaultTimeout(10000)
    await page.goto(url)
    await page.getByLabel('Your name').fill(name)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('navigation', { name: 'Conversations' }).waitFor()
    return page
  }
  const send = async (page, text) => {
    const box = page.getByRole('textbox', { name: 'Message' })
    await box.fill(text)
    await box.press('Enter')
  }
  const a = await open('alice')
  await a.getByRole('button', { name: 'New conversation' }).click()
  await a.getByLabel('Title').fill('Design review')
  await a.getByLabel('Members').fill('bob')
  await a.getByRole('button', { name: 'Create' }).click()
  await a.waitForURL(/\/c\//)
  await a.getByRole('button', { name: 'New conversation' }).click()
  const first = a.url()
  await a.getByLabel('Title').fill('Weekend trip')
  await a.getByLabel('Members').fill('bob carol')
  await a.getByRole('button', { name: 'Create' }).click()
  await a.waitForURL((u) => u.href !== first)
  const id = a.url().split('/c/')[1]
  const b = await open('bob')
  const c = await open('carol')
  await b.goto(`${url}/c/${id}`)
  await c.goto(`${url}/c/${id}`)
  await send(b, 'Who is up for a hike on Saturday?')
  await a.waitForTimeout(300)
  await send(c, 'Me! The ridge trail again?')
  await a.waitForTimeout(300)
  await send(a, 'Count me in, I will bring snacks.')
  await a.waitForSelector('article.bubble--own[data-status="read"]')
  await c.goto(`${url}/`)
  await send(a, 'Leaving at 8 from the station?')
  await a.waitForFunction(
    () =>
      document.querySelectorAll('article.bubble--own[data-status="delivered"]').length === 1 &&
      [...document.querySelectorAll('.message-status__summary')].some((e) =>
        e.textContent.includes('read by 1 of 2'),
      ),
  )
  await a.waitForTimeout(3000)
  await b.getByRole('textbox', { name: 'Message' }).pressSequentially('Sounds')
  await a.getByText('bob is typing…').waitFor()
  await a.mouse.move(600, 400)
  await a.screenshot({ path: fileURLToPath(new URL('../docs/screenshot.png', import.meta.url)) })
} finally {
  await browser.close()
  await app.close()
}

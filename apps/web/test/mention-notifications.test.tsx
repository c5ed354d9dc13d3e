import { createRoot } from 'solid-js'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { ConversationSummary } from '../src/components/conversation-list.js'
import { mentionsUser, summarize } from '../src/conversation-summary.js'
import { createNotifications } from '../src/notifications.js'

afterEach(() => {
  vi.unstubAllGlobals()
  Object.defineProperty(document, 'hidden', { configurable: true, get: () => false })
})

describe('a mention in the conversation list and the notification', () => {
  it('is read from the recorded mentions, or from the text and the members when the feed has none', () => {
    const members = { alice: { joinedAt: 1 }, bob: { joinedAt: 1 } }
    expect(mentionsUser({ text: 'ping @alice.', mentions: undefined }, members, 'alice')).toBe(true)
    expect(mentionsUser({ text: 'mail alice@example.org' }, members, 'alice')).toBe(false)
    // Not a member (any more): no mention.
    expect(mentionsUser({ text: 'ping @alice' }, ['bob'], 'alice')).toBe(false)
    // The server's record wins over the text.
    expect(mentionsUser({ text: 'ping @alice', mentions: ['bob'] }, members, 'alice')).toBe(false)
    expect(mentionsUser(null, members, 'alice')).toBe(false)
    const row = summarize(
      {
        id: 'c1',
        title: 'Team',
        lastMessage: { author: 'bob', text: '@alice hi', createdAt: 5, mentionsMe: true },
      },
      undefined,
      'alice',
    )
    expect(row.lastMessage?.mentionsMe).toBe(true)
  })

  it('says "mentioned you" in the desktop notification', () => {
    const shown: { title: string; body?: string }[] = []
    vi.stubGlobal(
      'Notification',
      class {
        static permission = 'granted'
        onclick: (() => void) | null = null
        constructor(title: string, options?: NotificationOptions) {
          shown.push({ title, body: options?.body })
        }
        close() {}
      },
    )
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => true })
    let arrive: (row: ConversationSummary) => void = () => {}
    const dispose = createRoot((dispose) => {
      createNotifications(
        {
          onArrival: (listener) => {
            arrive = listener
            return () => {}
          },
        },
        { activeId: () => undefined, open: () => {} },
      )
      return dispose
    })
    const last = { author: 'bob', createdAt: 1, own: false }
    arrive({
      id: 'c1',
      title: 'Team',
      unread: 1,
      lastMessage: { ...last, text: '@alice lunch?', mentionsMe: true },
    })
    arrive({ id: 'c2', title: 'Other', unread: 1, lastMessage: { ...last, text: 'lunch?' } })
    expect(shown).toEqual([
      { title: 'Team', body: 'bob mentioned you: @alice lunch?' },
      { title: 'Other', body: 'bob: lunch?' },
    ])
    dispose()
  })
})

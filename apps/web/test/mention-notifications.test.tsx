import { cleanup, render, screen } from '@solidjs/testing-library'
import { createRoot } from 'solid-js'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { ConversationList, type ConversationSummary } from '../src/components/conversation-list.js'
import { mentionsUser, summarize } from '../src/conversation-summary.js'
import { createNotifications } from '../src/notifications.js'

afterEach(() => {
  cleanup()
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

  it('marks a conversation with an unread mention in the list, and not once it is read', () => {
    const last = { author: 'bob', text: 'lunch?', createdAt: 1, own: false }
    const rows: ConversationSummary[] = [
      { id: 'c1', title: 'Counted by the server', unread: 3, unreadMentions: 1, lastMessage: last },
      {
        id: 'c2',
        title: 'Named last',
        unread: 1,
        lastMessage: { ...last, text: '@alice?', mentionsMe: true },
      },
      {
        id: 'c3',
        title: 'Read already',
        unread: 0,
        lastMessage: { ...last, text: '@alice?', mentionsMe: true },
      },
      { id: 'c4', title: 'No mention', unread: 2, lastMessage: last },
    ]
    render(() => <ConversationList conversations={rows} onOpen={() => {}} />)
    const marked = screen
      .getAllByRole('img', { name: 'Mentions you' })
      .map((badge) => badge.closest('a')?.querySelector('.conversation-row__title')?.textContent)
    expect(marked).toEqual(['Counted by the server', 'Named last'])
  })
})

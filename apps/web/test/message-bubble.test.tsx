import { cleanup, fireEvent, render, screen } from '@solidjs/testing-library'
import type { Message, Status } from '@ticks/core'
import { createStore } from 'solid-js/store'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { MessageBubble } from '../src/components/message-bubble.js'

afterEach(cleanup)

const message = (overrides: Partial<Message> = {}): Message => ({
  id: 'm1',
  author: 'alice',
  text: 'Hello Bob',
  createdAt: Date.UTC(2025, 0, 1, 9, 30),
  status: 'pending',
  to: ['bob'],
  ...overrides,
})

const ticks = () => screen.getByRole('img')

describe('MessageBubble ticks on your own message', () => {
  it('shows a clock while pending, with a text alternative', () => {
    render(() => <MessageBubble message={message()} own receipts={{ bob: 'pending' }} />)
    expect(ticks().getAttribute('aria-label')).toBe('Waiting to send')
    expect(ticks().closest('[data-status]')?.getAttribute('data-status')).toBe('pending')
    expect(ticks().querySelector('circle')).not.toBeNull()
  })

  it('walks sent ✓ → delivered ✓✓ → read blue ✓✓ in place, naming the reader', () => {
    const [state, setState] = createStore({ message: message({ seq: 1, status: 'sent' as Status }) })
    const receipts = () => ({ bob: state.message.status })
    render(() => <MessageBubble message={state.message} own receipts={receipts()} />)
    const bubble = document.querySelector('article')!
    expect(ticks().getAttribute('aria-label')).toBe('Sent')
    expect(ticks().querySelectorAll('path')).toHaveLength(1)

    setState('message', 'status', 'delivered')
    expect(ticks().getAttribute('aria-label')).toBe('Delivered to bob')
    expect(ticks().querySelectorAll('path')).toHaveLength(2)

    setState('message', 'status', 'read')
    expect(ticks().getAttribute('aria-label')).toBe('Read by bob')
    expect(bubble.getAttribute('data-status')).toBe('read')
    // The same element was updated, not re-created: a status change touches only its bubble.
    expect(document.querySelector('article')).toBe(bubble)
  })

  it('uses display names in the text alternative', () => {
    render(() => (
      <MessageBubble
        message={message({ seq: 1, status: 'read' })}
        own
        receipts={{ bob: 'read' }}
        nameOf={(id) => id.toUpperCase()}
      />
    ))
    expect(screen.getByRole('img', { name: 'Read by BOB' })).toBeTruthy()
  })

  it('shows a failed message in red with the reason and a Retry button', () => {
    const onRetry = vi.fn()
    render(() => (
      <MessageBubble
        message={message({ status: 'failed' })}
        own
        receipts={{ bob: 'pending' }}
        failureReason="Message too large"
        onRetry={onRetry}
      />
    ))
    expect(ticks().getAttribute('aria-label')).toBe('Not sent: Message too large')
    expect(screen.getByRole('alert').textContent).toContain('Message too large')
    expect(document.querySelector('article')!.classList.contains('bubble--failed')).toBe(true)
    fireEvent.click(screen.getByRole('button', { name: 'Retry' }))
    expect(onRetry).toHaveBeenCalledWith('m1')
  })

  it('says "read by 3 of 5" in a group and names who read it in the tooltip', () => {
    const receipts: Record<string, Status> = {
      bob: 'read',
      carol: 'read',
      dave: 'read',
      erin: 'delivered',
      frank: 'sent',
    }
    render(() => (
      <MessageBubble
        message={message({ seq: 4, status: 'sent', to: Object.keys(receipts) })}
        own
        receipts={receipts}
        times={{ sent: Date.UTC(2025, 0, 1, 9, 30, 5) }}
      />
    ))
    expect(screen.getByText('read by 3 of 5')).toBeTruthy()
    expect(ticks().getAttribute('aria-label')).toBe('Sent, delivered to 4 of 5, read by 3 of 5')
    const tooltip = screen.getByRole('tooltip')
    expect(ticks().getAttribute('aria-describedby')).toBe(tooltip.id)
    expect(tooltip.textContent).toContain('Read by bob, carol and dave')
    expect(tooltip.textContent).toContain('Delivered to erin')
    expect(tooltip.textContent).toContain('Not yet delivered to frank')
    expect(tooltip.textContent).toMatch(/Sent \d/)
  })

  it('shows an announcement as the server’s, not as anyone’s message (issue 16)', () => {
    render(() => (
      <MessageBubble
        message={message({
          author: ':system',
          announcement: true,
          seq: 3,
          status: 'sent',
          text: 'Fire drill',
        })}
        own={false}
      />
    ))
    const bubble = document.querySelector('article')!
    expect(bubble.classList.contains('bubble--announcement')).toBe(true)
    expect(bubble.classList.contains('bubble--other')).toBe(false)
    expect(bubble.getAttribute('aria-label')).toMatch(/^Announcement, /)
    expect(screen.getByText('Announcement')).toBeTruthy()
    expect(screen.queryByText(':system')).toBeNull()
  })

  it('shows no ticks on messages from others, but their name in groups', () => {
    render(() => (
      <MessageBubble message={message({ author: 'bob', seq: 2, status: 'read' })} own={false} showAuthor />
    ))
    expect(screen.queryByRole('img')).toBeNull()
    expect(screen.getByText('bob')).toBeTruthy()
    expect(document.querySelector('article')!.classList.contains('bubble--other')).toBe(true)
  })
})

import { cleanup, render, screen } from '@solidjs/testing-library'
import type { Message, Verification } from '@ticks/core'
import { createSignal } from 'solid-js'
import { afterEach, describe, expect, it } from 'vitest'
import { MessageBubble } from '../src/components/message-bubble.js'

afterEach(cleanup)

const message: Message = {
  id: 'm1',
  author: 'mallory',
  text: 'Send me the codes',
  createdAt: Date.UTC(2025, 0, 1, 9, 30),
  seq: 1,
  status: 'read',
  to: ['bob'],
}

describe('a message that cannot be shown to be its author’s', () => {
  it('is labelled Unverified in its bubble, with a text alternative', () => {
    render(() => <MessageBubble message={message} own={false} verification="unverified" />)
    const label = screen.getByRole('note', { name: /^Unverified: this message is not signed by its author/ })
    expect(label.textContent).toContain('Unverified')
    expect(label.closest('article')?.getAttribute('data-message-id')).toBe('m1')
  })

  it('says so for a key its author never published', () => {
    render(() => <MessageBubble message={message} own={false} verification="unknown-key" />)
    expect(
      screen.getByRole('note', { name: /signed with a key its author has not published/ }).textContent,
    ).toContain('Unknown key')
  })

  it('shows nothing while it is checked or once verified, and the label follows the answer in place', () => {
    const [verification, setVerification] = createSignal<Verification>('checking')
    render(() => <MessageBubble message={message} own={false} verification={verification()} />)
    const bubble = document.querySelector('article')
    expect(screen.queryByRole('note')).toBeNull()
    setVerification('unverified')
    expect(screen.getByRole('note').textContent).toContain('Unverified')
    setVerification('verified')
    expect(screen.queryByRole('note')).toBeNull()
    expect(document.querySelector('article')).toBe(bubble)
  })
})

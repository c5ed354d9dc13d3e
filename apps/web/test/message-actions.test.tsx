import { cleanup, fireEvent, render, screen, within } from '@solidjs/testing-library'
import type { Message } from '@ticks/core'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ChatView } from '../src/chat/chat-view.js'
import { MessageBubble } from '../src/components/message-bubble.js'
import { createFakeChat, FakeIntersectionObserver } from './fake-chat.js'

/**
 * Message actions (issue 17) in the chat view, over real core conversations sharing one document:
 * what alice does goes through the view, what the others do through their own `Conversation`.
 */

beforeEach(() => {
  FakeIntersectionObserver.instances = []
  vi.stubGlobal('IntersectionObserver', FakeIntersectionObserver)
})
afterEach(() => {
  cleanup()
  vi.unstubAllGlobals()
})

/** The bubble whose own text (not a quote of it) holds `text`. */
const bubble = (text: string): HTMLElement => {
  const found = [...document.querySelectorAll<HTMLElement>('article.bubble')].find((article) =>
    article.querySelector('.bubble__text')?.textContent?.includes(text),
  )
  if (!found) throw new Error(`No bubble says "${text}"`)
  return found
}
const composer = () => screen.getByLabelText('Message') as HTMLTextAreaElement
const type = (text: string) => fireEvent.input(composer(), { target: { value: text } })
const press = (key: string, target: Element = composer()) => fireEvent.keyDown(target, { key })
const chooseAction = (message: HTMLElement, subject: string, action: string) => {
  fireEvent.click(within(message).getByRole('button', { name: `Actions for ${subject}` }))
  fireEvent.click(within(message).getByRole('menuitem', { name: action }))
}
const react = (message: HTMLElement, subject: string, emoji: string) => {
  fireEvent.click(within(message).getByRole('button', { name: `React to ${subject}` }))
  fireEvent.click(within(message).getByRole('button', { name: `React with ${emoji}` }))
}

function openChat(members = ['alice', 'bob']) {
  const chat = createFakeChat(members)
  render(() => <ChatView conversationId="c1" model={chat.model} networkOnline />)
  return chat
}

describe('Reply', () => {
  it('shows what it answers in the composer, cancellable, then quotes the original in the bubble', () => {
    const chat = openChat()
    chat.as.bob!.send('Lunch at one?')
    chat.stamp()

    chooseAction(bubble('Lunch at one?'), 'message from bob', 'Reply')
    expect(screen.getByText('Replying to bob')).toBeTruthy()
    expect(document.activeElement).toBe(composer())
    // Escape backs out and keeps what was typed.
    type('Sure')
    press('Escape')
    expect(screen.queryByText('Replying to bob')).toBeNull()
    expect(composer().value).toBe('Sure')
    // So does the strip's button.
    chooseAction(bubble('Lunch at one?'), 'message from bob', 'Reply')
    fireEvent.click(screen.getByRole('button', { name: 'Cancel reply' }))
    expect(screen.queryByText('Replying to bob')).toBeNull()

    chooseAction(bubble('Lunch at one?'), 'message from bob', 'Reply')
    type('Sure, see you there')
    press('Enter')
    expect(screen.queryByText('Replying to bob')).toBeNull()
    const reply = bubble('Sure, see you there')
    const quote = within(reply).getByRole('button', { name: /In reply to bob/ })
    expect(quote.textContent).toContain('Lunch at one?')
    const sent = chat.as.bob!.messages().find((m) => m.text === 'Sure, see you there')!
    expect(sent.replyTo).toMatchObject({ author: 'bob', text: 'Lunch at one?' })

    // Following the quote marks the original.
    fireEvent.click(quote)
    expect(bubble('Lunch at one?').classList.contains('bubble--highlighted')).toBe(true)
  })

  it('says "message deleted" once the original is deleted for everyone', () => {
    const chat = openChat()
    const original = chat.as.bob!.send('Oops, wrong chat')
    chat.stamp()
    chooseAction(bubble('Oops, wrong chat'), 'message from bob', 'Reply')
    type('What was that?')
    press('Enter')
    chat.stamp()
    chat.as.bob!.deleteForEveryone(original.id)
    const quote = within(bubble('What was that?')).getByRole('button', { name: /In reply to bob/ })
    expect(quote.textContent).toContain('message deleted')
  })

  it('keeps the text when the original is deleted while replying, and sends it without the quote next', () => {
    const chat = openChat()
    const original = chat.as.bob!.send('Going soon')
    chat.stamp()
    chooseAction(bubble('Going soon'), 'message from bob', 'Reply')
    chat.as.bob!.deleteForEveryone(original.id)
    type('Wait for me')
    press('Enter')
    expect(screen.getByRole('alert').textContent).toMatch(/replying to was deleted/)
    expect(composer().value).toBe('Wait for me')
    press('Enter')
    expect(chat.as.bob!.messages().find((m) => m.text === 'Wait for me')?.replyTo).toBeUndefined()
  })

  it('shows a placeholder, still naming the author, for an original this device does not hold', () => {
    const reply: Message = {
      id: 'm2',
      author: 'bob',
      text: 'As I said',
      createdAt: Date.UTC(2025, 0, 1, 9, 30),
      seq: 5,
      status: 'sent',
      to: ['alice'],
      replyTo: { id: 'sealed-long-ago', author: 'alice' },
    }
    render(() => <MessageBubble message={reply} own={false} userId="alice" onJumpTo={() => {}} />)
    const quote = screen.getByText('Original message not loaded').closest('.reply-quote')!
    expect(quote.textContent).toContain('You')
    // Nothing to go to: not a button.
    expect(quote.tagName).toBe('DIV')
  })
})

describe('Reactions', () => {
  it('shows chips with counts and who reacted, the reader’s own highlighted and removable', () => {
    const chat = openChat(['alice', 'bob', 'carol'])
    const message = chat.as.bob!.send('Passed the exam!')
    chat.stamp()

    react(bubble('Passed the exam!'), 'message from bob', '👍')
    const thumbs = () => within(bubble('Passed the exam!')).getByRole('button', { name: /^👍/ })
    expect(thumbs().getAttribute('aria-label')).toBe('👍 1: You')
    expect(thumbs().getAttribute('aria-pressed')).toBe('true')
    expect(thumbs().classList.contains('reaction-chip--mine')).toBe(true)

    chat.as.bob!.react(message.id, '👍')
    chat.as.carol!.react(message.id, '❤️')
    expect(thumbs().getAttribute('aria-label')).toBe('👍 2: You and bob')
    expect(thumbs().textContent).toBe('👍2')
    const heart = within(bubble('Passed the exam!')).getByRole('button', { name: '❤️ 1: carol' })
    expect(heart.getAttribute('aria-pressed')).toBe('false')

    // The own chip takes the reaction back; another's adds the reader's.
    fireEvent.click(thumbs())
    expect(thumbs().getAttribute('aria-label')).toBe('👍 1: bob')
    expect(thumbs().getAttribute('aria-pressed')).toBe('false')
    fireEvent.click(heart)
    expect(chat.as.bob!.message(message.id).reactions).toEqual({ '❤️': ['alice', 'carol'], '👍': ['bob'] })
    // The picker shows what the reader has on it.
    fireEvent.click(
      within(bubble('Passed the exam!')).getByRole('button', { name: 'React to message from bob' }),
    )
    expect(screen.getByRole('button', { name: 'Remove ❤️' }).getAttribute('aria-pressed')).toBe('true')
  })

  it('says why a reaction was refused', () => {
    const chat = openChat()
    const message = chat.as.bob!.send('So many feelings')
    chat.stamp()
    // Eight already, written from another device of alice's.
    for (const emoji of ['🎉', '🔥', '👀', '💯', '✅', '🙌', '👏', '🤔'])
      chat.as.alice!.react(message.id, emoji)
    react(bubble('So many feelings'), 'message from bob', '👍')
    expect(screen.getByRole('alert').textContent).toMatch(/as many emoji as it allows/)
  })
})

describe('Edit', () => {
  it('edits in the composer: Enter saves, the bubble says "edited", a read message keeps its ticks, the draft comes back', () => {
    const chat = openChat()
    type('See you at 1')
    press('Enter')
    chat.stamp()
    chat.as.bob!.markRead()
    expect(bubble('See you at 1').querySelector('.ticks')!.getAttribute('aria-label')).toBe('Read by bob')

    type('half-written draft')
    chooseAction(bubble('See you at 1'), 'your message', 'Edit')
    expect(screen.getByText('Editing your message')).toBeTruthy()
    expect(composer().value).toBe('See you at 1')
    expect(screen.getByRole('button', { name: 'Save' })).toBeTruthy()
    type('See you at 2')
    press('Enter')

    const edited = bubble('See you at 2')
    expect(within(edited).getByText('edited')).toBeTruthy()
    expect(edited.getAttribute('aria-label')).toMatch(/, edited$/)
    expect(edited.querySelector('.ticks')!.getAttribute('aria-label')).toBe('Read by bob')
    expect(edited.getAttribute('data-status')).toBe('read')
    expect(chat.as.bob!.messages()[0]).toMatchObject({ text: 'See you at 2', status: 'read' })
    expect(composer().value).toBe('half-written draft')
  })

  it('Escape cancels and gives the draft back; Up in an empty box edits the last own message', () => {
    const chat = openChat()
    type('first')
    press('Enter')
    type('second')
    press('Enter')
    chat.stamp()

    press('ArrowUp')
    expect(composer().value).toBe('second')
    type('second, changed')
    press('Escape')
    expect(composer().value).toBe('')
    expect(screen.queryByText('Editing your message')).toBeNull()
    expect(screen.getByText('second')).toBeTruthy()
    expect(screen.queryByText('edited')).toBeNull()
  })

  it('keeps the text and says why when edits come too fast', () => {
    const chat = openChat()
    type('v0')
    press('Enter')
    chat.stamp()
    const limit = chat.as.alice!.limits.maxEditsPerMinute
    for (let n = 1; n <= limit; n++) {
      press('ArrowUp')
      type(`v${n}`)
      press('Enter')
    }
    expect(screen.getByText(`v${limit}`)).toBeTruthy()
    press('ArrowUp')
    type('one edit too many')
    press('Enter')
    expect(screen.getByRole('alert').textContent).toMatch(/Too many edits in a minute/)
    expect(composer().value).toBe('one edit too many')
    expect(screen.getByText('Editing your message')).toBeTruthy()
  })
})

describe('Delete for everyone', () => {
  it('asks first, then leaves a tombstone in place with its ticks and no actions', () => {
    const chat = openChat()
    type('Sent to the wrong chat')
    press('Enter')
    type('Next one')
    press('Enter')
    chat.stamp()
    chat.as.bob!.markDelivered()
    const id = chat.model.messages()[0]!.id

    chooseAction(bubble('Sent to the wrong chat'), 'your message', 'Delete for everyone')
    const dialog = screen.getByRole('alertdialog', { name: 'Delete for everyone?' })
    expect(document.activeElement).toBe(within(dialog).getByRole('button', { name: 'Cancel' }))
    press('Escape', dialog)
    expect(screen.queryByRole('alertdialog')).toBeNull()
    expect(screen.getByText('Sent to the wrong chat')).toBeTruthy()

    chooseAction(bubble('Sent to the wrong chat'), 'your message', 'Delete for everyone')
    fireEvent.click(screen.getByRole('button', { name: 'Delete for everyone' }))
    const tombstone = bubble('This message was deleted')
    expect(tombstone.classList.contains('bubble--deleted')).toBe(true)
    expect(tombstone.dataset.messageId).toBe(id)
    expect(tombstone.querySelector('.ticks')!.getAttribute('aria-label')).toBe('Delivered to bob')
    expect(within(tombstone).queryByRole('button', { name: /Actions for/ })).toBeNull()
    expect(screen.queryByText('Sent to the wrong chat')).toBeNull()
    // In its place, above the next one; gone for bob too.
    expect(chat.model.messages().map((m) => m.id)[0]).toBe(id)
    expect(chat.as.bob!.message(id)).toMatchObject({ deleted: true, text: '' })
  })

  it('discards a message the server never had', () => {
    const chat = openChat()
    type('Never sent')
    press('Enter')
    chooseAction(bubble('Never sent'), 'your message', 'Delete')
    fireEvent.click(screen.getByRole('button', { name: 'Delete' }))
    expect(screen.queryByText('Never sent')).toBeNull()
    expect(chat.model.messages()).toHaveLength(0)
  })

  it('offers edit and delete on own messages only', () => {
    const chat = openChat()
    chat.as.bob!.send('From bob')
    chat.stamp()
    fireEvent.click(within(bubble('From bob')).getByRole('button', { name: 'Actions for message from bob' }))
    expect(screen.getAllByRole('menuitem').map((item) => item.textContent)).toEqual(['Reply'])
  })
})

describe('Mentions', () => {
  it('highlights @member and marks a message that mentions the reader', () => {
    const chat = openChat(['alice', 'bob', 'carol'])
    chat.as.bob!.send('@alice and @carol: standup moved. Not @dave.')
    chat.as.bob!.send('No names here')
    chat.stamp()
    const mentioning = bubble('@alice')
    expect(mentioning.classList.contains('bubble--mentioned')).toBe(true)
    expect(mentioning.getAttribute('aria-label')).toMatch(/mentions you$/)
    expect(within(mentioning).getByText('@alice').classList.contains('mention--me')).toBe(true)
    const carol = within(mentioning).getByText('@carol')
    expect(carol.classList.contains('mention')).toBe(true)
    expect(carol.classList.contains('mention--me')).toBe(false)
    // Not a member: plain text.
    expect(mentioning.querySelectorAll('.mention')).toHaveLength(2)
    expect(bubble('No names here').classList.contains('bubble--mentioned')).toBe(false)
  })
})

describe('Keyboard', () => {
  it('opens the menu on its first item, moves with the arrows, and Escape gives the focus back', () => {
    const chat = openChat()
    type('Mine')
    press('Enter')
    chat.stamp()
    const trigger = within(bubble('Mine')).getByRole('button', { name: 'Actions for your message' })
    fireEvent.click(trigger)
    expect(trigger.getAttribute('aria-expanded')).toBe('true')
    const menu = screen.getByRole('menu')
    const items = within(menu).getAllByRole('menuitem')
    expect(items.map((item) => item.textContent)).toEqual(['Reply', 'Edit', 'Delete for everyone'])
    expect(document.activeElement).toBe(items[0])
    press('ArrowDown', menu)
    expect(document.activeElement).toBe(items[1])
    press('ArrowUp', menu)
    press('ArrowUp', menu)
    expect(document.activeElement).toBe(items[2])
    press('Escape', menu)
    expect(screen.queryByRole('menu')).toBeNull()
    expect(document.activeElement).toBe(trigger)
  })
})

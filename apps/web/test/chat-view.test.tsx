import { cleanup, fireEvent, render, screen } from '@solidjs/testing-library'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ChatView } from '../src/chat/chat-view.js'
import { createFakeChat, FakeIntersectionObserver } from './fake-chat.js'

beforeEach(() => {
  FakeIntersectionObserver.instances = []
  vi.stubGlobal('IntersectionObserver', FakeIntersectionObserver)
})
afterEach(() => {
  cleanup()
  vi.unstubAllGlobals()
  setTabVisibility('visible')
  localStorage.clear()
})

function setTabVisibility(state: 'visible' | 'hidden') {
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state })
  document.dispatchEvent(new Event('visibilitychange'))
}

const bubble = (text: string) => screen.getByText(text).closest('article')!
const ticksOf = (text: string) => bubble(text).querySelector('.ticks')!.getAttribute('aria-label')

describe('ChatView', () => {
  it('puts own messages on the right with ticks that follow the stamp, touching only that bubble', () => {
    const chat = createFakeChat(['alice', 'bob'])
    render(() => <ChatView conversationId="c1" model={chat.model} networkOnline />)
    chat.as.bob!.send('from bob')
    chat.stamp()
    fireEvent.input(screen.getByLabelText('Message'), { target: { value: 'hello bob' } })
    fireEvent.keyDown(screen.getByLabelText('Message'), { key: 'Enter' })
    const bobsBubble = bubble('from bob')
    expect(bubble('hello bob').classList.contains('bubble--own')).toBe(true)
    expect(bobsBubble.classList.contains('bubble--other')).toBe(true)
    expect(ticksOf('hello bob')).toBe('Waiting to send')

    chat.stamp()
    expect(ticksOf('hello bob')).toBe('Sent')
    chat.as.bob!.markDelivered()
    expect(ticksOf('hello bob')).toBe('Delivered to bob')
    expect(bubble('from bob')).toBe(bobsBubble)
  })

  it('marks read only the messages on screen, and nothing while the tab is hidden', () => {
    const chat = createFakeChat(['alice', 'bob'])
    const ids = ['one', 'two', 'three'].map((text) => chat.as.bob!.send(text).id)
    chat.stamp()
    chat.as.alice!.markDelivered() // the client does this by itself once the messages arrive
    render(() => <ChatView conversationId="c1" model={chat.model} networkOnline />)
    const io = FakeIntersectionObserver.latest()
    expect(io.observed.size).toBe(3)

    io.show([ids[0]!, ids[1]!])
    expect(chat.as.bob!.receipts(ids[1]!)).toEqual({ alice: 'read' })
    expect(chat.as.bob!.receipts(ids[2]!)).toEqual({ alice: 'delivered' })

    setTabVisibility('hidden')
    io.show([ids[2]!])
    expect(chat.as.bob!.receipts(ids[2]!)).toEqual({ alice: 'delivered' })

    setTabVisibility('visible')
    expect(chat.as.bob!.receipts(ids[2]!)).toEqual({ alice: 'read' })
  })

  it('opens at the first unread message, under an "Unread messages" divider', () => {
    const chat = createFakeChat(['alice', 'bob'])
    const seen = chat.as.bob!.send('seen before').id
    chat.as.bob!.send('not seen yet')
    chat.stamp()
    chat.as.alice!.markRead(seen)
    render(() => <ChatView conversationId="c1" model={chat.model} networkOnline />)
    const divider = screen.getByRole('separator')
    expect(divider.textContent).toBe('Unread messages')
    expect(divider.nextElementSibling).toBe(bubble('not seen yet'))
  })

  it('shows a "new messages" pill instead of scrolling when the reader is further up', () => {
    const chat = createFakeChat(['alice', 'bob'])
    for (let i = 0; i < 5; i++) chat.as.bob!.send(`old ${i}`)
    render(() => <ChatView conversationId="c1" model={chat.model} networkOnline />)
    const log = screen.getByRole('log')
    Object.defineProperty(log, 'scrollHeight', { configurable: true, value: 2000 })
    Object.defineProperty(log, 'clientHeight', { configurable: true, value: 400 })
    log.scrollTop = 100
    fireEvent.scroll(log)

    chat.as.bob!.send('new one')
    chat.as.bob!.send('new two')
    const pill = screen.getByRole('button', { name: /2 new messages/ })
    fireEvent.click(pill)
    expect(log.scrollTop).toBe(2000)
    expect(screen.queryByRole('button', { name: /new message/ })).toBeNull()
  })

  it('says who is typing and who is online', () => {
    const chat = createFakeChat(['alice', 'bob', 'carol'])
    render(() => <ChatView conversationId="c1" model={chat.model} networkOnline />)
    expect(screen.getByText('3 members')).toBeTruthy()
    chat.setPresence({ bob: { online: true, typing: false }, carol: { online: true, typing: false } })
    expect(screen.getByText('bob, carol online')).toBeTruthy()
    chat.setPresence({ bob: { online: true, typing: true } })
    expect(screen.getByText('bob is typing…')).toBeTruthy()
  })

  it('announces typing while keys are pressed and withdraws it on send', () => {
    const chat = createFakeChat(['alice', 'bob'])
    render(() => <ChatView conversationId="c1" model={chat.model} networkOnline />)
    const input = screen.getByLabelText('Message')
    fireEvent.input(input, { target: { value: 'h' } })
    fireEvent.input(input, { target: { value: 'hi' } })
    fireEvent.keyDown(input, { key: 'Enter' })
    expect(chat.calls.typing).toEqual([true, false])
  })

  it('calls a dropped connection "reconnecting" while the network is up, "offline" when it is not', () => {
    const chat = createFakeChat(['alice', 'bob'])
    const result = render(() => <ChatView conversationId="c1" model={chat.model} networkOnline />)
    chat.setConnection('offline')
    expect(screen.getByRole('status').textContent).toContain('Reconnecting')
    fireEvent.click(screen.getByRole('button', { name: 'Retry now' }))
    expect(chat.calls.reconnect).toBe(1)
    result.unmount()

    render(() => <ChatView conversationId="c1" model={chat.model} networkOnline={false} />)
    chat.as.alice!.send('queued')
    expect(screen.getByRole('status').textContent).toContain('1 message will be sent when you reconnect')
  })
})

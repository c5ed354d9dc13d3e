import { cleanup, fireEvent, render, screen, waitFor } from '@solidjs/testing-library'
import { TicksError } from '@ticks/core'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ChatView, ESTIMATED_ROW_HEIGHT } from '../src/chat/chat-view.js'
import { createFakeChat, FakeIntersectionObserver } from './fake-chat.js'

beforeEach(() => {
  FakeIntersectionObserver.instances = []
  vi.stubGlobal('IntersectionObserver', FakeIntersectionObserver)
})
afterEach(() => {
  cleanup()
  vi.useRealTimers()
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

  it("scrolls to others' messages that arrive above this device's unsent ones, not past them", async () => {
    const chat = createFakeChat(['alice', 'bob'])
    for (let i = 0; i < 3; i++) chat.as.bob!.send(`old ${i}`)
    chat.stamp()
    render(() => <ChatView conversationId="c1" model={chat.model} networkOnline />)
    const log = screen.getByRole('log')
    Object.defineProperty(log, 'scrollHeight', { configurable: true, value: 2000 })
    Object.defineProperty(log, 'clientHeight', { configurable: true, value: 400 })
    chat.model.send('written offline')
    await Promise.resolve()
    expect(log.scrollTop).toBe(2000)
    // Back online: what bob wrote meanwhile is stamped first, so it lands above the unsent message.
    // One transaction, as it arrives: the message together with its stamp.
    const doc = chat.as.bob!.doc
    doc.transact(() => {
      const missed = chat.as.bob!.send('written while alice was away')
      doc.getArray<string>('server').push([missed.id])
    })
    const missed = chat.model.messages().findIndex((m) => m.author === 'bob' && m.text.startsWith('written'))
    await Promise.resolve()
    expect(chat.model.messages().at(-1)!.text).toBe('written offline')
    // Its row just below the top (jsdom lays nothing out: rows count at their estimate).
    expect(missed).toBe(3)
    expect(log.scrollTop).toBe(missed * ESTIMATED_ROW_HEIGHT - 8)
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

  it('opens at the first unread once the stored messages have loaded, reading nothing before', () => {
    // A reload or a bookmark: the view mounts while the messages are still coming from disk and the
    // server, so where to open (and what is read) can only be decided once they are in.
    const chat = createFakeChat(['alice', 'bob'], 'alice', { loaded: false })
    render(() => <ChatView conversationId="c1" model={chat.model} networkOnline />)
    const log = screen.getByRole('log')
    Object.defineProperty(log, 'scrollHeight', { configurable: true, value: 2000 })
    Object.defineProperty(log, 'clientHeight', { configurable: true, value: 400 })
    const seen = chat.as.bob!.send('seen before').id
    const unseen = chat.as.bob!.send('not seen yet').id
    const newest = chat.as.bob!.send('newest').id
    chat.stamp()
    chat.as.alice!.markRead(seen)
    const io = FakeIntersectionObserver.latest()
    io.show([seen, unseen, newest])
    expect(chat.as.bob!.receipts(newest)).toEqual({ alice: 'sent' })

    chat.setLoaded(true)
    const divider = screen.getByRole('separator')
    expect(divider.textContent).toBe('Unread messages')
    expect(divider.nextElementSibling).toBe(bubble('not seen yet'))
    // At the divider's row (the second; jsdom lays nothing out), not dropped at the bottom.
    expect(log.scrollTop).toBe(ESTIMATED_ROW_HEIGHT - 8)
    expect(screen.queryByRole('button', { name: /new message/ })).toBeNull()
    io.show([unseen])
    expect(chat.as.bob!.receipts(unseen)).toEqual({ alice: 'read' })
    expect(chat.as.bob!.receipts(newest)).toEqual({ alice: 'sent' })
  })

  it('keeps saying "typing…" while keys are pressed for longer than the typing timeout', () => {
    vi.useFakeTimers()
    const chat = createFakeChat(['alice', 'bob'])
    render(() => <ChatView conversationId="c1" model={chat.model} networkOnline />)
    const input = screen.getByLabelText('Message')
    let text = ''
    for (let i = 0; i < 40; i++) {
      text += 'a'
      fireEvent.input(input, { target: { value: text } })
      vi.advanceTimersByTime(250) // 10 s of steady typing
    }
    // Renewed at most every 2 s, so the client's 5 s expiry never withdraws it mid-sentence.
    expect(chat.calls.typing.filter((typing) => typing).length).toBeGreaterThanOrEqual(4)
    expect(chat.calls.typing.filter((typing) => typing).length).toBeLessThanOrEqual(6)
    expect(chat.calls.typing).not.toContain(false)
    vi.advanceTimersByTime(3000)
    expect(chat.calls.typing.at(-1)).toBe(false)
  })

  it('refuses a message over the size limit while it is typed, keeping the text', () => {
    const chat = createFakeChat(['alice', 'bob'])
    render(() => <ChatView conversationId="c1" model={chat.model} networkOnline />)
    const input = screen.getByLabelText('Message') as HTMLTextAreaElement
    const long = 'é'.repeat(9000) // 9000 characters, 18 000 UTF-8 bytes: over 16 KiB
    fireEvent.input(input, { target: { value: long } })
    expect(screen.getByRole('alert').textContent).toMatch(/too long/i)
    expect((screen.getByRole('button', { name: 'Send' }) as HTMLButtonElement).disabled).toBe(true)
    fireEvent.keyDown(input, { key: 'Enter' })
    expect(chat.as.alice!.messages()).toHaveLength(0)
    expect(input.value).toBe(long)

    fireEvent.input(input, { target: { value: 'short' } })
    expect(screen.queryByRole('alert')).toBeNull()
    expect((screen.getByRole('button', { name: 'Send' }) as HTMLButtonElement).disabled).toBe(false)
  })

  it('says why a message could not be written, and keeps the text', () => {
    const chat = createFakeChat(['alice', 'bob'])
    const model = {
      ...chat.model,
      send: () => {
        throw new TicksError('not-synced', 'The conversation has not loaded its members yet')
      },
    }
    render(() => <ChatView conversationId="c1" model={model} networkOnline />)
    const input = screen.getByLabelText('Message') as HTMLTextAreaElement
    fireEvent.input(input, { target: { value: 'hello?' } })
    fireEvent.keyDown(input, { key: 'Enter' })
    expect(screen.getByRole('alert').textContent).toMatch(/not loaded yet/i)
    expect(input.value).toBe('hello?')
  })

  it('disables the composer for a conversation that does not exist, with no "Retry now"', () => {
    const chat = createFakeChat(['alice', 'bob'])
    render(() => <ChatView conversationId="c1" model={chat.model} networkOnline />)
    chat.setStopped({ code: 4404, reason: 'no such conversation' })
    expect(screen.getByRole('alert').textContent).toMatch(/does not exist/)
    // An invitation to write would contradict the disabled composer.
    expect(screen.queryByText(/Say hello/)).toBeNull()
    expect(screen.queryByRole('button', { name: 'Retry now' })).toBeNull()
    expect((screen.getByLabelText('Message') as HTMLTextAreaElement).disabled).toBe(true)
  })

  it('offers "Sign in again", not "Retry now", when the session is refused', () => {
    const chat = createFakeChat(['alice', 'bob'])
    const onSignInAgain = vi.fn()
    render(() => (
      <ChatView conversationId="c1" model={chat.model} networkOnline onSignInAgain={onSignInAgain} />
    ))
    chat.setStopped({ code: 4401, reason: 'invalid token' })
    expect(screen.getByRole('alert').textContent).toContain('Your session has expired')
    expect(screen.queryByRole('button', { name: 'Retry now' })).toBeNull()
    fireEvent.click(screen.getByRole('button', { name: 'Sign in again' }))
    expect(onSignInAgain).toHaveBeenCalledOnce()
    expect(chat.calls.reconnect).toBe(0)
  })

  it('shows the first character of an emoji title whole, and "1 member" in the singular', () => {
    const chat = createFakeChat(['alice'])
    chat.as.alice!.setTitle('🎉 Party')
    const { container } = render(() => <ChatView conversationId="c1" model={chat.model} networkOnline />)
    expect(container.querySelector('.chat__header .avatar')!.textContent).toBe('🎉')
    expect(screen.getByText('1 member')).toBeTruthy()
  })

  it('loads older pages near the top without limit, keeping the reader in place, never as new messages', async () => {
    const chat = createFakeChat(['alice', 'bob'], 'alice', { sealed: 60, window: 10, pageSize: 20 })
    chat.as.alice!.markRead() // all read: the chat opens at the bottom
    render(() => <ChatView conversationId="c1" model={chat.model} networkOnline />)
    const log = screen.getByRole('log')
    Object.defineProperty(log, 'clientHeight', { configurable: true, value: 400 })
    Object.defineProperty(log, 'scrollHeight', {
      configurable: true,
      get: () => chat.model.messages().length * ESTIMATED_ROW_HEIGHT,
    })
    // Ten messages do not reach far from the top: the first older page is asked for at once.
    expect(chat.calls.loadOlder).toBe(1)
    expect(screen.getByText('Loading earlier messages…')).toBeTruthy()
    log.scrollTop = 100 // the reader looks at "history 52", 28 px above the top
    fireEvent.scroll(log)
    chat.releaseOlder()
    await waitFor(() => expect(chat.model.messages()).toHaveLength(30))
    expect(log.scrollTop).toBe(100 + 20 * ESTIMATED_ROW_HEIGHT)
    expect(screen.queryByRole('button', { name: /new message/ })).toBeNull()
    expect(chat.calls.loadOlder).toBe(1) // far enough from the top now

    for (const expected of [50, 60]) {
      log.scrollTop = 0
      fireEvent.scroll(log)
      chat.releaseOlder()
      await waitFor(() => expect(chat.model.messages()).toHaveLength(expected))
    }
    expect(screen.getByText('The beginning of the conversation')).toBeTruthy()
    log.scrollTop = 0
    fireEvent.scroll(log)
    expect(chat.calls.loadOlder).toBe(3)
    expect(screen.queryByRole('button', { name: /new message/ })).toBeNull()
  })

  it('says when older messages cannot be loaded, and tries again on request', async () => {
    const chat = createFakeChat(['alice', 'bob'], 'alice', { sealed: 30, window: 5 })
    let online = false
    const model = {
      ...chat.model,
      loadOlder: async () => (online ? chat.model.loadOlder() : 0),
    }
    render(() => <ChatView conversationId="c1" model={model} networkOnline={false} />)
    await screen.findByText(/Offline: earlier messages will load later\./)
    online = true
    fireEvent.click(screen.getByRole('button', { name: 'Try again' }))
    expect(screen.getByText('Loading earlier messages…')).toBeTruthy()
    chat.releaseOlder()
    await waitFor(() => expect(chat.model.messages()).toHaveLength(25))
  })
})

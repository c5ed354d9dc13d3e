import { cleanup, fireEvent, render, screen, waitFor } from '@solidjs/testing-library'
import { createSignal } from 'solid-js'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { ApiError } from '../src/api.js'
import { AdminPage } from '../src/components/admin-page.js'
import { ConversationList, type ListError } from '../src/components/conversation-list.js'
import { NewConversation, parseMembers } from '../src/components/new-conversation.js'
import { SignIn } from '../src/components/sign-in.js'

afterEach(() => {
  cleanup()
  vi.useRealTimers()
})

describe('SignIn', () => {
  it('signs in by name with a dev token', async () => {
    const requestDevToken = vi.fn(async () => ({ token: 'tok' }))
    const onSignIn = vi.fn()
    render(() => <SignIn requestDevToken={requestDevToken} onSignIn={onSignIn} />)
    fireEvent.input(screen.getByLabelText('Your name'), { target: { value: ' alice ' } })
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }))
    await waitFor(() => expect(onSignIn).toHaveBeenCalledWith({ userId: 'alice', token: 'tok' }))
    expect(requestDevToken).toHaveBeenCalledWith('alice')
  })

  it('accepts a pasted JWT and takes the user from its subject', () => {
    const onSignIn = vi.fn()
    render(() => <SignIn requestDevToken={vi.fn()} onSignIn={onSignIn} />)
    const payload = btoa(JSON.stringify({ sub: 'bob' })).replace(/=+$/, '')
    const jwt = `eyJhbGciOiJIUzI1NiJ9.${payload}.signature`
    fireEvent.input(screen.getByLabelText('JWT'), { target: { value: jwt } })
    fireEvent.click(screen.getByRole('button', { name: 'Use token' }))
    expect(onSignIn).toHaveBeenCalledWith({ userId: 'bob', token: jwt })
  })

  it('explains a refusal', async () => {
    render(() => <SignIn requestDevToken={() => Promise.reject(new Error('Not found'))} onSignIn={vi.fn()} />)
    fireEvent.input(screen.getByLabelText('Your name'), { target: { value: 'alice' } })
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }))
    expect((await screen.findByRole('alert')).textContent).toContain('Not found')
  })

  it('checks the name before asking the server, in plain words', () => {
    const requestDevToken = vi.fn(async () => ({ token: 'tok' }))
    render(() => <SignIn requestDevToken={requestDevToken} onSignIn={vi.fn()} />)
    fireEvent.input(screen.getByLabelText('Your name'), { target: { value: 'Mary Ann' } })
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }))
    const alert = screen.getByRole('alert').textContent!
    expect(alert).toContain('letters, digits')
    expect(alert).not.toContain('pattern')
    expect(alert).not.toContain('dev mode')
    expect(requestDevToken).not.toHaveBeenCalled()
  })

  it('asks about dev mode only when the server has no sign-in by name', async () => {
    const refuse = (error: Error) => () => Promise.reject(error)
    const first = render(() => (
      <SignIn
        requestDevToken={refuse(new ApiError(400, 'bad-request', 'That name was refused.'))}
        onSignIn={vi.fn()}
      />
    ))
    fireEvent.input(screen.getByLabelText('Your name'), { target: { value: 'alice' } })
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }))
    expect((await screen.findByRole('alert')).textContent).not.toContain('dev mode')
    first.unmount()

    render(() => (
      <SignIn requestDevToken={refuse(new ApiError(404, 'not-found', 'Not Found'))} onSignIn={vi.fn()} />
    ))
    fireEvent.input(screen.getByLabelText('Your name'), { target: { value: 'alice' } })
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }))
    expect((await screen.findByRole('alert')).textContent).toContain('dev mode')
  })
})

describe('ConversationList', () => {
  it('shows title, last message and unread count, and opens on click', () => {
    const onOpen = vi.fn()
    render(() => (
      <ConversationList
        conversations={[
          {
            id: 'c1',
            title: 'Lunch',
            unread: 2,
            lastMessage: { author: 'bob', text: 'Pizza?', createdAt: Date.now(), own: false },
          },
          { id: 'c2', title: 'Empty', unread: 0 },
        ]}
        activeId="c2"
        onOpen={onOpen}
      />
    ))
    const lunch = screen.getByRole('link', { name: /Lunch/ })
    expect(lunch.textContent).toContain('bob: Pizza?')
    expect(screen.getByRole('img', { name: '2 unread' }).textContent).toBe('2')
    expect(screen.getByRole('link', { name: /Empty/ }).getAttribute('aria-current')).toBe('page')
    fireEvent.click(lunch)
    expect(onOpen).toHaveBeenCalledWith('c1')
  })
})

describe('ConversationList, more', () => {
  it('shows the whole first character of an emoji title in the avatar', () => {
    const { container } = render(() => (
      <ConversationList conversations={[{ id: 'c1', title: '👩‍💻 Devs', unread: 0 }]} onOpen={vi.fn()} />
    ))
    expect(container.querySelector('.avatar')!.textContent).toBe('👩‍💻')
  })

  it('says why the list cannot be refreshed, and offers to sign in again when the session is refused', () => {
    const onSignInAgain = vi.fn()
    const [error, setError] = createSignal<ListError | undefined>({
      message: 'Could not reach the server.',
      sessionExpired: false,
    })
    render(() => (
      <ConversationList conversations={[]} onOpen={vi.fn()} error={error()} onSignInAgain={onSignInAgain} />
    ))
    expect(screen.getByRole('alert').textContent).toContain('Could not reach the server.')
    expect(screen.queryByRole('button', { name: 'Sign in again' })).toBeNull()
    setError({ message: 'Your session has expired.', sessionExpired: true })
    expect(screen.getByRole('alert').textContent).toContain('Your session has expired.')
    fireEvent.click(screen.getByRole('button', { name: 'Sign in again' }))
    expect(onSignInAgain).toHaveBeenCalledOnce()
  })
})

describe('NewConversation', () => {
  it('creates a conversation with the listed members', async () => {
    const onCreate = vi.fn(async () => {})
    render(() => <NewConversation onCreate={onCreate} />)
    fireEvent.click(screen.getByRole('button', { name: 'New conversation' }))
    fireEvent.input(screen.getByLabelText('Title'), { target: { value: 'Weekend' } })
    fireEvent.input(screen.getByLabelText('Members'), { target: { value: 'bob, carol bob' } })
    fireEvent.click(screen.getByRole('button', { name: 'Create' }))
    await waitFor(() => expect(onCreate).toHaveBeenCalledWith('Weekend', ['bob', 'carol']))
    expect(parseMembers(' a,,b  c ')).toEqual(['a', 'b', 'c'])
  })
})

describe('NewConversation, focus', () => {
  it('puts focus in the title when it opens, and back on its button when cancelled', async () => {
    render(() => <NewConversation onCreate={vi.fn(async () => {})} />)
    fireEvent.click(screen.getByRole('button', { name: 'New conversation' }))
    await waitFor(() => expect(document.activeElement).toBe(screen.getByLabelText('Title')))
    fireEvent.click(screen.getByRole('button', { name: 'Cancel' }))
    await waitFor(() =>
      expect(document.activeElement).toBe(screen.getByRole('button', { name: 'New conversation' })),
    )
  })
})

describe('NewConversation, bad names', () => {
  it('names the member that is not a valid name, without asking the server', () => {
    const onCreate = vi.fn(async () => {})
    render(() => <NewConversation onCreate={onCreate} />)
    fireEvent.click(screen.getByRole('button', { name: 'New conversation' }))
    fireEvent.input(screen.getByLabelText('Title'), { target: { value: 'Weekend' } })
    fireEvent.input(screen.getByLabelText('Members'), { target: { value: 'carol, bob!' } })
    fireEvent.click(screen.getByRole('button', { name: 'Create' }))
    const alert = screen.getByRole('alert').textContent!
    expect(alert).toContain('“bob!”')
    expect(alert).toContain('letters, digits')
    expect(onCreate).not.toHaveBeenCalled()
  })
})

describe('AdminPage', () => {
  it('renders the server state and refreshes it every 5 s', async () => {
    vi.useFakeTimers()
    let rooms = 1
    const fetchState = vi.fn(async () => ({
      connections: 3,
      rooms: [{ id: 'c1', sockets: rooms }],
      messagesByStatus: { pending: 0, sent: 2, read: 5 },
    }))
    render(() => <AdminPage fetchState={fetchState} />)
    await vi.waitFor(() => expect(screen.getByRole('table').textContent).toContain('c1'))
    expect(screen.getByRole('region', { name: 'Messages By Status' }).textContent).toContain('Read5')
    expect(screen.getByRole('region', { name: 'Overview' }).textContent).toContain('Connections3')
    rooms = 4
    await vi.advanceTimersByTimeAsync(5000)
    expect(fetchState).toHaveBeenCalledTimes(2)
    await vi.waitFor(() => expect(screen.getByRole('cell', { name: '4' })).toBeTruthy())
  })

  it('refreshes the overview card too', async () => {
    vi.useFakeTimers()
    let connections = 0
    render(() => <AdminPage fetchState={async () => ({ connections, rooms: [] })} />)
    await vi.waitFor(() =>
      expect(screen.getByRole('region', { name: 'Overview' }).textContent).toContain('Connections0'),
    )
    connections = 7
    await vi.advanceTimersByTimeAsync(5000)
    await vi.waitFor(() =>
      expect(screen.getByRole('region', { name: 'Overview' }).textContent).toContain('Connections7'),
    )
  })

  it('keeps the last state through a failed refresh, says why, and recovers on the next one', async () => {
    vi.useFakeTimers()
    let sent = 3
    let down = false
    const fetchState = async () => {
      if (down) throw new Error('Could not reach the server.')
      return { messagesByStatus: { sent } }
    }
    render(() => <AdminPage fetchState={fetchState} />)
    const card = () => screen.getByRole('region', { name: 'Messages By Status' }).textContent
    await vi.waitFor(() => expect(card()).toContain('Sent3'))
    down = true
    await vi.advanceTimersByTimeAsync(5000)
    await vi.waitFor(() =>
      expect(screen.getByRole('alert').textContent).toContain('Could not reach the server.'),
    )
    expect(card()).toContain('Sent3')
    down = false
    sent = 7
    await vi.advanceTimersByTimeAsync(5000)
    await vi.waitFor(() => expect(card()).toContain('Sent7'))
    expect(screen.queryByRole('alert')).toBeNull()
  })
})

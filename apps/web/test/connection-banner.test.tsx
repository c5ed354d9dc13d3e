import { cleanup, fireEvent, render, screen } from '@solidjs/testing-library'
import { createSignal } from 'solid-js'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { ConnectionBanner, type ConnectionState } from '../src/components/connection-banner.js'

afterEach(() => {
  cleanup()
  vi.useRealTimers()
})

const banner = () => screen.getByRole('status')

describe('ConnectionBanner', () => {
  it('tells an offline user their messages will be sent when they reconnect', () => {
    render(() => <ConnectionBanner state="offline" networkOffline pendingCount={3} />)
    expect(banner().dataset.state).toBe('offline')
    expect(banner().textContent).toContain('You are offline.')
    expect(banner().textContent).toContain('3 messages will be sent when you reconnect.')
  })

  it('counts down to the next attempt and offers "Retry now"', () => {
    vi.useFakeTimers()
    const start = Date.now()
    const onRetryNow = vi.fn()
    render(() => <ConnectionBanner state="connecting" retryAt={start + 5000} onRetryNow={onRetryNow} />)
    expect(banner().textContent).toContain('Reconnecting in 5 s…')
    vi.advanceTimersByTime(2000)
    expect(banner().textContent).toContain('Reconnecting in 3 s…')
    vi.advanceTimersByTime(3000)
    expect(banner().textContent).toContain('Reconnecting…')
    fireEvent.click(screen.getByRole('button', { name: 'Retry now' }))
    expect(onRetryNow).toHaveBeenCalledOnce()
  })

  it('follows the connection through syncing to synced', () => {
    const [state, setState] = createSignal<ConnectionState>('connecting')
    render(() => <ConnectionBanner state={state()} />)
    expect(banner().textContent).toContain('Reconnecting…')
    setState('syncing')
    expect(banner().textContent).toBe('Syncing…')
    setState('synced')
    expect(banner().dataset.state).toBe('synced')
    expect(banner().textContent).toBe('Synced')
    expect(screen.queryByRole('button')).toBeNull()
  })
})

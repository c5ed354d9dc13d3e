import { cleanup, fireEvent, render, screen, waitFor, within } from '@solidjs/testing-library'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { type Announcement, type AnnouncementPosted, ApiError } from '../src/api.js'
import { AdminPage } from '../src/components/admin-page.js'

afterEach(cleanup)

const fetchState = async () => ({ rooms: 1, connections: 2 })

const announcement = (n: number, conversationId: string | null, failed = 0): Announcement => ({
  id: `post-${n}`,
  text: `Announcement ${n}`,
  postedBy: 'ops',
  postedAt: Date.UTC(2026, 11, 4, 10, n),
  conversationId,
  delivered: 3,
  failed,
})

/** The server's record of posts, as the page reads and grows it. */
function fakeServer(initial: Announcement[]) {
  const posts = [...initial]
  return {
    list: vi.fn(async () => [...posts]),
    post: vi.fn(async (text: string, conversationId?: string): Promise<AnnouncementPosted> => {
      const targets = conversationId === undefined ? ['c1', 'c2', 'c3'] : [conversationId]
      posts.unshift({
        ...announcement(posts.length + 1, conversationId ?? null),
        text,
        delivered: targets.length,
      })
      return {
        id: posts[0]!.id,
        announcements: targets.map((target) => ({ conversationId: target, id: `m-${target}`, seq: 1 })),
      }
    }),
  }
}

describe('AdminPage: announcements', () => {
  it('lists the recent announcements, newest first, with where they went and how far they reached', async () => {
    const server = fakeServer([announcement(2, null, 1), announcement(1, 'c1')])
    render(() => <AdminPage fetchState={fetchState} announcements={server} />)
    const region = await screen.findByRole('region', { name: 'Announcements' })
    const table = await within(region).findByRole('table')
    const rows = within(table).getAllByRole('row').slice(1)
    expect(rows.map((row) => row.textContent)).toEqual([
      expect.stringContaining('Announcement 2every conversation3 (1 failed)ops'),
      expect.stringContaining('Announcement 1c13ops'),
    ])
  })

  it('posts into every conversation, says how far it reached, and lists it', async () => {
    const server = fakeServer([])
    render(() => <AdminPage fetchState={fetchState} announcements={server} />)
    expect(await screen.findByText('No announcements yet.')).toBeTruthy()
    fireEvent.input(screen.getByLabelText('Announcement'), { target: { value: '  Fire drill at 10  ' } })
    fireEvent.click(screen.getByRole('button', { name: 'Post announcement' }))
    expect((await screen.findByRole('status')).textContent).toBe('Posted into 3 conversations.')
    expect(server.post).toHaveBeenCalledWith('Fire drill at 10', undefined)
    await waitFor(() => expect(screen.getByRole('table').textContent).toContain('Fire drill at 10'))
    expect((screen.getByLabelText('Announcement') as HTMLTextAreaElement).value).toBe('')
  })

  it('posts into one conversation, and asks which before posting', async () => {
    const server = fakeServer([])
    render(() => <AdminPage fetchState={fetchState} announcements={server} />)
    await screen.findByText('No announcements yet.')
    fireEvent.input(screen.getByLabelText('Announcement'), { target: { value: 'Lunch is late' } })
    fireEvent.click(screen.getByLabelText('One conversation'))
    fireEvent.click(screen.getByRole('button', { name: 'Post announcement' }))
    expect((await screen.findByRole('alert')).textContent).toContain('Name the conversation')
    expect(server.post).not.toHaveBeenCalled()
    fireEvent.input(screen.getByLabelText('Conversation id'), { target: { value: 'c2' } })
    fireEvent.click(screen.getByRole('button', { name: 'Post announcement' }))
    expect((await screen.findByRole('status')).textContent).toBe('Posted into 1 conversation.')
    expect(server.post).toHaveBeenCalledWith('Lunch is late', 'c2')
  })

  it('shows why a post was refused, and keeps the text', async () => {
    const server = fakeServer([])
    server.post.mockRejectedValueOnce(new ApiError(404, 'not-found', 'no such conversation'))
    render(() => <AdminPage fetchState={fetchState} announcements={server} />)
    await screen.findByText('No announcements yet.')
    fireEvent.input(screen.getByLabelText('Announcement'), { target: { value: 'Hello' } })
    fireEvent.click(screen.getByRole('button', { name: 'Post announcement' }))
    expect((await screen.findByRole('alert')).textContent).toBe('Not posted: no such conversation')
    expect((screen.getByLabelText('Announcement') as HTMLTextAreaElement).value).toBe('Hello')
  })

  it('tells a non-admin that announcements need an admin token, with no form', async () => {
    const list = vi.fn(async () => {
      throw new ApiError(403, 'not-admin', 'announcements need an admin token')
    })
    render(() => <AdminPage fetchState={fetchState} announcements={{ list, post: vi.fn() }} />)
    const region = await screen.findByRole('region', { name: 'Announcements' })
    await waitFor(() => expect(region.textContent).toContain('Announcements are for admins'))
    expect(within(region).queryByRole('form')).toBeNull()
    expect(within(region).queryByRole('button')).toBeNull()
  })
})

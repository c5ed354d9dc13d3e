/** The Ticks REST API (DESIGN section 6), as the app uses it. Same origin: the server serves the app. */

import { NAME_RULE } from './names.js'

export class ApiError extends Error {
  readonly status: number
  readonly code: string

  constructor(status: number, code: string, message: string) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
  }
}

/**
 * What a refusal means to the person who caused it. The server's messages are written for
 * developers (a 400 quotes its JSON schema), so they are shown only when nothing better is known.
 */
function plainMessage(status: number, serverMessage: string): string {
  if (status === 401) return 'Your session has expired.'
  if (status === 400) {
    if (serverMessage.startsWith('body/userId')) return `That name is not accepted. ${NAME_RULE}`
    if (serverMessage.startsWith('body/members')) return `A member name is not accepted. ${NAME_RULE}`
    if (serverMessage.startsWith('body/title')) return 'That title is too long (at most 200 characters).'
    return 'The server did not accept that request.'
  }
  if (status === 429) return 'Too many requests: try again in a moment.'
  if (status >= 500) return 'The server could not do that just now: try again in a moment.'
  return serverMessage
}

export interface ConversationInfo {
  id: string
  title: string
  members?: Record<string, { joinedAt?: number }> | string[]
  /** What the server's listing adds for this user (as its inbox feed has them). */
  lastMessage?: {
    author: string
    text: string
    createdAt: number
    /** The members it names, when the server's listing carries them (issue 17). */
    mentions?: string[]
    /** Deleted for everyone: its text is gone (''). */
    deleted?: true
  } | null
  unread?: number
  /** Of the unread messages, how many mention this user (issue 17), when the server counts them. */
  mentions?: number
}

async function request<T>(path: string, init: RequestInit & { token?: string } = {}): Promise<T> {
  const headers = new Headers(init.headers)
  if (init.token) headers.set('authorization', `Bearer ${init.token}`)
  if (init.body !== undefined) headers.set('content-type', 'application/json')
  let response: Response
  try {
    response = await fetch(path, { ...init, headers })
  } catch {
    throw new ApiError(0, 'unreachable', 'Could not reach the server.')
  }
  const body = (await response.json().catch(() => undefined)) as
    | { error?: { code?: string; message?: string } }
    | undefined
  if (!response.ok) {
    throw new ApiError(
      response.status,
      body?.error?.code ?? String(response.status),
      plainMessage(response.status, body?.error?.message ?? response.statusText),
    )
  }
  return body as T
}

/** Offered in dev mode and with --dev-sessions (local clusters): the server signs a token for any name. */
export const createDevSession = (userId: string) =>
  request<{ token: string }>('/api/session', { method: 'POST', body: JSON.stringify({ userId }) })

export async function listConversations(token: string): Promise<ConversationInfo[]> {
  const body = await request<ConversationInfo[] | { conversations: ConversationInfo[] }>(
    '/api/conversations',
    { token },
  )
  return Array.isArray(body) ? body : body.conversations
}

export const createConversationRequest = (token: string, title: string, members: string[]) =>
  request<{ id: string }>('/api/conversations', {
    method: 'POST',
    token,
    body: JSON.stringify({ title, members }),
  })

export const fetchState = (token?: string) => request<Record<string, unknown>>('/api/state', { token })

/** An announcement as the server records a post of one (issue 16): what `/admin` lists. */
export interface Announcement {
  id: string
  text: string
  postedBy: string
  postedAt: number
  /** null: posted into every conversation. */
  conversationId: string | null
  delivered: number
  failed: number
}

/** What one post did, conversation by conversation. */
export interface AnnouncementPosted {
  id: string
  announcements: { conversationId: string; id?: string; seq?: number; error?: string }[]
}

/** Admin tokens only: anyone else gets ApiError 403 (`not-admin`). */
export const listAnnouncements = async (token: string, limit = 20): Promise<Announcement[]> =>
  (await request<{ announcements: Announcement[] }>(`/api/announcements?limit=${limit}`, { token }))
    .announcements

/** Into one conversation, or (without `conversationId`) into every one. Admin tokens only. */
export const postAnnouncement = (token: string, text: string, conversationId?: string) =>
  request<AnnouncementPosted>('/api/announcements', {
    method: 'POST',
    token,
    body: JSON.stringify(conversationId === undefined ? { text } : { text, conversationId }),
  })

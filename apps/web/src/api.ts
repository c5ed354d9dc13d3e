/** The Ticks REST API (DESIGN section 6), as the app uses it. Same origin: the server serves the app. */

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

export interface ConversationInfo {
  id: string
  title: string
  members?: Record<string, unknown> | string[]
}

async function request<T>(path: string, init: RequestInit & { token?: string } = {}): Promise<T> {
  const headers = new Headers(init.headers)
  if (init.token) headers.set('authorization', `Bearer ${init.token}`)
  if (init.body !== undefined) headers.set('content-type', 'application/json')
  const response = await fetch(path, { ...init, headers })
  const body = (await response.json().catch(() => undefined)) as
    | { error?: { code?: string; message?: string } }
    | undefined
  if (!response.ok) {
    throw new ApiError(
      response.status,
      body?.error?.code ?? String(response.status),
      body?.error?.message ?? response.statusText,
    )
  }
  return body as T
}

/** Dev mode only: the server signs a token for any name. */
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

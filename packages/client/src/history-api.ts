import type { HistoryMessage } from '@ticks/core'

/** One page of a conversation's sealed history, as `GET /api/conversations/:id/history` serves it. */
export interface HistoryPage {
  /** Ascending seq: the sealed messages with the highest seqs below the page's `before`. */
  messages: HistoryMessage[]
  sealedThrough: number
}

/** The server answered, but not with a page (401, 403, 404, a malformed body…). */
export class HistoryRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
    this.name = 'HistoryRequestError'
  }
}

/** No server could be reached (offline, or every node down): the caller may fall back to its cache. */
export class HistoryUnreachableError extends Error {
  constructor(cause: unknown) {
    super(`history could not be fetched: ${(cause as Error | undefined)?.message ?? String(cause)}`)
    this.name = 'HistoryUnreachableError'
  }
}

/** The REST base of each socket URL: `ws(s)://host[:port]` → `http(s)://host[:port]`. */
export function httpBases(url: string | readonly string[]): string[] {
  const urls = typeof url === 'string' ? [url] : [...url]
  return urls.map((base) => base.replace(/\/+$/, '').replace(/^ws(s?):/i, 'http$1:'))
}

export interface HistoryRequest {
  bases: readonly string[]
  token: string
  conversationId: string
  before: number
  limit: number
  fetch: typeof fetch
}

/**
 * Fetch one page, trying each base in turn while none can be reached (as the sockets move to the
 * next node). The body is checked: only well-formed records with seqs below `before` are kept,
 * since they go to this device's cache as well as on screen.
 */
export async function fetchHistoryPage(request: HistoryRequest): Promise<HistoryPage> {
  const path = `/api/conversations/${encodeURIComponent(request.conversationId)}/history?before=${request.before}&limit=${request.limit}`
  let unreachable: unknown
  for (const base of request.bases) {
    let response: Response
    try {
      response = await request.fetch(base + path, { headers: { authorization: `Bearer ${request.token}` } })
    } catch (cause) {
      unreachable = cause
      continue
    }
    const body = (await response.json().catch(() => undefined)) as
      | { messages?: unknown; sealedThrough?: unknown; error?: { code?: unknown; message?: unknown } }
      | undefined
    if (!response.ok) {
      const code = typeof body?.error?.code === 'string' ? body.error.code : 'http-error'
      const message = typeof body?.error?.message === 'string' ? body.error.message : response.statusText
      throw new HistoryRequestError(response.status, code, message)
    }
    if (!body || !Array.isArray(body.messages) || typeof body.sealedThrough !== 'number') {
      throw new HistoryRequestError(response.status, 'bad-response', 'the history page is malformed')
    }
    return {
      messages: body.messages.filter((m): m is HistoryMessage => isHistoryMessage(m, request.before)),
      sealedThrough: body.sealedThrough,
    }
  }
  throw new HistoryUnreachableError(unreachable)
}

function isHistoryMessage(value: unknown, before: number): boolean {
  const m = value as Partial<HistoryMessage> | null
  return (
    typeof m === 'object' &&
    m !== null &&
    typeof m.id === 'string' &&
    typeof m.author === 'string' &&
    typeof m.text === 'string' &&
    typeof m.createdAt === 'number' &&
    Array.isArray(m.to) &&
    m.to.every((user) => typeof user === 'string') &&
    Number.isSafeInteger(m.seq) &&
    m.seq! >= 1 &&
    m.seq! < before
  )
}

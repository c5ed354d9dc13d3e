/** Which socket an upgrade asks for: one conversation (`/sync/<id>`) or the shared socket (`/sync`). */
export type SocketRoute = { kind: 'conversation'; conversationId: string } | { kind: 'multiplexed' }

/** Fastify's default `maxParamLength`: a longer id was a 404 when Fastify routed the upgrades. */
const MAX_ID_LENGTH = 100

/**
 * The socket route of a request URL, or undefined: then Fastify routes it, as it did every
 * upgrade before (a 404, or the 400 of a malformed URL). The id is percent-decoded as Fastify
 * decodes a route parameter.
 */
export function socketRouteOf(url: string): SocketRoute | undefined {
  const end = url.search(/[?#]/)
  const path = end === -1 ? url : url.slice(0, end)
  if (path === '/sync') return { kind: 'multiplexed' }
  if (!path.startsWith('/sync/')) return undefined
  const encoded = path.slice('/sync/'.length)
  if (encoded.length === 0 || encoded.length > MAX_ID_LENGTH || encoded.includes('/')) return undefined
  if (!encoded.includes('%')) return { kind: 'conversation', conversationId: encoded }
  try {
    return { kind: 'conversation', conversationId: decodeURIComponent(encoded) }
  } catch {
    return undefined
  }
}

/**
 * `?token=` of a request URL, read as Fastify's query parser read it: a key spelled any way that
 * decodes to `token`; given twice, no token at all.
 */
export function tokenOf(url: string): string | undefined {
  const start = url.indexOf('?')
  if (start === -1) return undefined
  const end = url.indexOf('#', start)
  const values = new URLSearchParams(url.slice(start + 1, end === -1 ? undefined : end)).getAll('token')
  return values.length === 1 && values[0] ? values[0] : undefined
}

import type { FastifyReply, FastifyRequest } from 'fastify'

/**
 * Which browser pages may talk to this server. A page's requests carry its Origin; a Node client
 * (the stock y-websocket provider, bots, the testkit) sends none, and a page of the server's own
 * origin is always welcome. Every other page must be listed: tokens are bearer tokens, never
 * cookies, so this is a second wall, but it keeps another site from driving a signed-in tab's
 * sockets and from reading the API through CORS.
 */

/** What is wrong with an `allowedOrigins` entry, if anything. */
export function originProblem(entry: string): string | undefined {
  if (entry === '*') return undefined
  const origin = URL.canParse(entry) ? new URL(entry) : undefined
  if (!origin || (origin.protocol !== 'http:' && origin.protocol !== 'https:'))
    return `${JSON.stringify(entry)} is not an origin (http(s)://host[:port])`
  if (origin.origin !== entry.replace(/\/$/, '').toLowerCase())
    return `${JSON.stringify(entry)} is not an origin: give scheme://host[:port] only (${origin.origin})`
  return undefined
}

/** The entries as browsers spell an Origin header (what CORS compares); throws on a bad one. */
export function normalizeOrigins(entries: readonly string[]): string[] {
  return entries.map((entry) => {
    const problem = originProblem(entry)
    if (problem) throw new Error(`allowed origins: ${problem}`)
    return entry === '*' ? entry : new URL(entry).origin
  })
}

/**
 * Whether a request with this Origin header, sent to `host` (the Host the client used), may go on.
 * `allowedOrigins` as `normalizeOrigins` returns them.
 */
export function originAllowed(
  origin: string | undefined,
  host: string,
  allowedOrigins: readonly string[],
): boolean {
  if (origin === undefined) return true
  if (allowedOrigins.includes('*')) return true
  if (!URL.canParse(origin)) return false // includes `null`: a sandboxed frame, a file:// page
  const page = new URL(origin)
  if (allowedOrigins.includes(page.origin)) return true
  // Same origin: the page was served from the host it now calls. The scheme is not compared:
  // behind a proxy that ends TLS, the page is https and the request reaches us as http.
  const target = `${page.protocol}//${host}`
  return URL.canParse(target) && new URL(target).host === page.host
}

/** How an Origin refusal is labelled in `ticks_refused_total` (with the HTTP status, 403, as its code). */
export const ORIGIN_REFUSAL = 'origin-not-allowed'

/**
 * An `onRequest` hook refusing, with 403 and the JSON error body, a request whose Origin is not
 * allowed: an API call never runs. (Socket upgrades never become Fastify requests: `raw-upgrade.ts`
 * makes the same check before the handshake.) `onRefused` counts each refusal.
 */
export function refuseForeignOrigins(allowedOrigins: readonly string[], onRefused: () => void = () => {}) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const origin = request.headers.origin
    if (originAllowed(origin, request.host, allowedOrigins)) return undefined
    onRefused()
    request.log.info({ origin, statusCode: 403 }, 'refused request: origin not allowed')
    return reply.code(403).send({
      error: {
        code: ORIGIN_REFUSAL,
        message: 'this origin may not use this server (see the allowed origins of the server)',
      },
    })
  }
}

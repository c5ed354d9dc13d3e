import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { FastifyServerOptions } from 'fastify'
import type { ServerOptions } from './options.js'

/** What every request's log lines carry, and what they never do: a token or a message's text. */

export const DEFAULT_REQUEST_ID_HEADER = 'x-request-id'

/**
 * A proxy's id is taken only when it looks like one (a UUID, a trace id): no dots, so a JWT
 * pasted into the header never becomes every log line's `reqId`, and short, so it cannot pad them.
 */
const SAFE_REQUEST_ID = /^[A-Za-z0-9_:-]{1,64}$/

/** Fastify's `genReqId`: the id from `header` when it is safe to log, else a fresh UUID. */
export function requestIdFrom(header: string | false): (request: IncomingMessage) => string {
  return (request) => {
    const given = header === false ? undefined : request.headers[header]
    return typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUUID()
  }
}

/** The path alone: a token may ride in the query under any spelling the query parser decodes
 * to `token` (`%74oken=`, after a `;`…), so no query string is logged at all. */
export const pathOf = (url: string): string => url.split('?', 1)[0] ?? '/'

/** Fastify's pino logger, with tokens kept out of every line (they ride in the sync URL's query). */
export function loggerOptions(logger: ServerOptions['logger']): FastifyServerOptions['logger'] {
  if (logger === false) return false
  if (logger === undefined || logger === true) return withRedaction({})
  return withRedaction(logger as Record<string, unknown>)
}

function withRedaction(options: Record<string, unknown>): FastifyServerOptions['logger'] {
  return {
    ...options,
    // The serializer below logs no header; these catch an object logged by hand.
    redact: {
      paths: ['req.headers.authorization', 'headers.authorization', 'authorization', 'token', '*.token'],
      censor: '[redacted]',
    },
    serializers: {
      req: (request: { method: string; url: string; ip?: string }) => ({
        method: request.method,
        url: pathOf(request.url),
        remoteAddress: request.ip,
      }),
    },
  } as FastifyServerOptions['logger']
}

import cors from '@fastify/cors'
import helmet from '@fastify/helmet'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { refuseForeignOrigins } from './origin-check.js'

/**
 * The policy of the web app's page: everything from this origin, nothing inline, nothing from
 * elsewhere. `'self'` in `connect-src` covers `ws:` / `wss:` to the same host and port (CSP
 * Level 3), which the sync socket needs. Upgrading insecure requests is left out: the server is
 * often reached over plain http (localhost, a LAN); TLS belongs to the proxy in front of it.
 */
const CONTENT_SECURITY_POLICY = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  scriptSrcAttr: ["'none'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  fontSrc: ["'self'"],
  connectSrc: ["'self'"],
  manifestSrc: ["'self'"],
  workerSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
}

/**
 * Root hooks for every route: helmet's security headers with the CSP above, the Origin checked
 * (403 before any route runs, counted through `onOriginRefused`), CORS for the listed origins only.
 */
async function httpDefences(
  app: FastifyInstance,
  options: { allowedOrigins: readonly string[]; onOriginRefused?: () => void },
) {
  const { allowedOrigins } = options
  // First, so that a refusal carries the headers too.
  await app.register(helmet, {
    contentSecurityPolicy: { useDefaults: false, directives: CONTENT_SECURITY_POLICY },
  })
  app.addHook('onRequest', refuseForeignOrigins(allowedOrigins, options.onOriginRefused))
  // Same-origin pages need no CORS headers; a refused origin never gets this far.
  await app.register(cors, {
    origin: allowedOrigins.includes('*') ? '*' : allowedOrigins.length > 0 ? [...allowedOrigins] : false,
    methods: ['GET', 'HEAD', 'POST'],
    allowedHeaders: ['authorization', 'content-type'],
    exposedHeaders: ['retry-after', 'x-request-id'],
    // Bearer tokens, never cookies: nothing ambient for a browser to attach.
    credentials: false,
    maxAge: 600,
  })
}

export const securityPlugin = fp(httpDefences, { name: 'ticks-http-defences', fastify: '5.x' })

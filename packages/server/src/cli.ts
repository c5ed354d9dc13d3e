#!/usr/bin/env node
import { parseArgs } from 'node:util'
import { startServer } from './server.js'

const HELP = `ticks-server — the Ticks sync server

  --port <n>          TICKS_PORT        (default 8080)
  --host <h>          TICKS_HOST        (default localhost)
  --data <dir>        TICKS_DATA        (default ./data)
  --store <kind>      TICKS_STORE       sqlite | memory (default sqlite)
  --jwt-secret <s>    TICKS_JWT_SECRET  HS256 secret for bearer tokens
  --jwks-url <url>    TICKS_JWKS_URL    verify tokens against a JWKS
  --redis <url>       TICKS_REDIS       cross-node fan-out (not available yet: one node only)
With neither --jwt-secret nor --jwks-url the server runs in dev mode (POST /api/session).`

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string' },
    data: { type: 'string' },
    store: { type: 'string' },
    'jwt-secret': { type: 'string' },
    'jwks-url': { type: 'string' },
    redis: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
})

if (values.help) {
  console.log(HELP)
  process.exit(0)
}

const env = process.env
const pick = (flag: string | undefined, name: string): string | undefined => flag ?? (env[name] || undefined)
const port = Number(pick(values.port, 'TICKS_PORT') ?? 8080)
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`invalid port: ${values.port ?? env.TICKS_PORT}`)
  process.exit(2)
}

// Accepted so a deployment script written against the documented flags fails with a reason,
// not with "unknown option".
if (pick(values.redis, 'TICKS_REDIS')) {
  console.error('ticks-server: Redis fan-out is not implemented yet; run a single node without --redis')
  process.exit(2)
}

try {
  const { app, url } = await startServer({
    port,
    host: pick(values.host, 'TICKS_HOST') ?? 'localhost',
    data: pick(values.data, 'TICKS_DATA') ?? './data',
    store: pick(values.store, 'TICKS_STORE') ?? 'sqlite',
    jwtSecret: pick(values['jwt-secret'], 'TICKS_JWT_SECRET'),
    jwksUrl: pick(values['jwks-url'], 'TICKS_JWKS_URL'),
  })
  console.log(`Ticks server listening on ${url}`)
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    app.log.info({ signal }, 'shutting down: flushing rooms, closing sockets with 1012')
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        app.log.error({ err: error }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
} catch (error) {
  console.error(`ticks-server could not start: ${(error as Error).message}`)
  process.exit(1)
}

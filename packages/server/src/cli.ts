#!/usr/bin/env node
import { parseArgs } from 'node:util'
import type { FastifyServerOptions } from 'fastify'
import {
  authOptionsProblem,
  DEFAULT_JWT_CLOCK_TOLERANCE_SECONDS,
  DEFAULT_SERVER_LIMITS,
  type PostgresOptions,
} from './options.js'
import { originProblem } from './plugins/origin-check.js'
import { isPostgresUrl } from './plugins/store.js'
import { QUARANTINE_HELP, runQuarantineCommand } from './quarantine-command.js'
import { startServer } from './server.js'
import { DEFAULT_POSTGRES_OPTIONS } from './store/postgres-store.js'

const HELP = `ticks-server — the Ticks sync server

  --port <n>                TICKS_PORT              (default 8080)
  --host <h>                TICKS_HOST              (default localhost)
  --data <dir>              TICKS_DATA              (default ./data)
  --store <kind>            TICKS_STORE             sqlite | memory | postgres://user:pass@host:port/db (default sqlite)
  --pg-pool-size <n>        TICKS_PG_POOL_SIZE      PostgreSQL connections of this node (default ${DEFAULT_POSTGRES_OPTIONS.poolSize})
  --pg-statement-timeout <ms> TICKS_PG_STATEMENT_TIMEOUT
                                                    PostgreSQL statement_timeout, 0 for none (default ${DEFAULT_POSTGRES_OPTIONS.statementTimeoutMs})
  --jwt-secret <s>          TICKS_JWT_SECRET        HS256 secret for bearer tokens (at least 32 bytes)
  --jwks-url <url>          TICKS_JWKS_URL          verify tokens against a JWKS (not with --jwt-secret)
  --dev-sessions            TICKS_DEV_SESSIONS=1    with --jwt-secret: POST /api/session gives anyone a token
                                                    for any user (npm run cluster; for trying things locally only)
  --jwt-audience <aud>      TICKS_JWT_AUDIENCE      accept only tokens for this audience (comma-separated: any of them)
  --jwt-issuer <iss>        TICKS_JWT_ISSUER        accept only tokens from this issuer (comma-separated: any of them)
  --jwt-clock-tolerance <s> TICKS_JWT_CLOCK_TOLERANCE
                                                    seconds of clock skew allowed for nbf / exp (default ${DEFAULT_JWT_CLOCK_TOLERANCE_SECONDS})
  --allowed-origin <origin> TICKS_ALLOWED_ORIGINS   a browser origin besides the server's own that may use it
                                                    (http(s)://host[:port]; repeat, or comma-separate; * for any).
                                                    Same-origin pages and clients that send no Origin always may
  --trust-proxy <v>         TICKS_TRUST_PROXY       believe X-Forwarded-For/-Host from: true (any), a number of hops,
                                                    or addresses / CIDRs (comma-separated)
  --rest-rate-limit <n>     TICKS_REST_RATE_LIMIT   REST requests per minute per client address, 0 for none
                                                    (default ${DEFAULT_SERVER_LIMITS.restRequestsPerWindow}; loopback and /healthz are exempt)
  --redis <url>             TICKS_REDIS             relay between nodes (several nodes over a postgres:// store)
  --node-id <id>            TICKS_NODE_ID           this node's name in leases and logs (default: host-pid-random)
  --lease-ms <ms>           TICKS_LEASE_MS          sequencer lease: a dead node's conversations wait this long (default 5000)
  --lease-renew-ms <ms>     TICKS_LEASE_RENEW_MS    lease renewal and takeover attempts (default 1000)
  --history-window <n>      TICKS_HISTORY_WINDOW    stamped messages a conversation keeps live; older ones are sealed
                                                    into paged history (default 1000; 0 never seals)
  --log-level <level>       TICKS_LOG_LEVEL         fatal | error | warn | info | debug | trace | silent (default info)
  --shutdown-timeout <s>    TICKS_SHUTDOWN_TIMEOUT  seconds a SIGTERM may take before a forced exit (default 10)
  -h, --help
  quarantine list|drop      stored updates set aside as unloadable (ticks-server quarantine --help)
With neither --jwt-secret nor --jwks-url the server runs in dev mode (POST /api/session).
A second SIGTERM / SIGINT exits at once.`

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

/** Exit 2 with a reason: what the operator typed cannot be right. */
function usageError(message: string, withHelp = false): never {
  console.error(`ticks-server: ${message}${withHelp ? `\n\n${HELP}` : ''}`)
  process.exit(2)
}

let values: Record<string, string | string[] | boolean | undefined>
let positionals: string[]
try {
  ;({ values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      data: { type: 'string' },
      store: { type: 'string' },
      'pg-pool-size': { type: 'string' },
      'pg-statement-timeout': { type: 'string' },
      'jwt-secret': { type: 'string' },
      'jwks-url': { type: 'string' },
      'dev-sessions': { type: 'boolean' },
      'jwt-audience': { type: 'string' },
      'jwt-issuer': { type: 'string' },
      'jwt-clock-tolerance': { type: 'string' },
      'allowed-origin': { type: 'string', multiple: true },
      'trust-proxy': { type: 'string' },
      'rest-rate-limit': { type: 'string' },
      redis: { type: 'string' },
      'node-id': { type: 'string' },
      'lease-ms': { type: 'string' },
      'lease-renew-ms': { type: 'string' },
      'log-level': { type: 'string' },
      'history-window': { type: 'string' },
      'shutdown-timeout': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      conversation: { type: 'string' },
      json: { type: 'boolean' },
    },
  }))
} catch (error) {
  usageError((error as Error).message, true)
}

if (positionals[0] === 'quarantine') {
  if (values.help) {
    console.log(QUARANTINE_HELP)
    process.exit(0)
  }
  const [, action, ...args] = positionals
  process.exit(
    await runQuarantineCommand(
      {
        action,
        args,
        data: (values.data as string | undefined) ?? process.env.TICKS_DATA ?? './data',
        store: (values.store as string | undefined) ?? process.env.TICKS_STORE,
        conversation: values.conversation as string | undefined,
        json: values.json === true,
      },
      (line) => console.log(line),
      (line) => console.error(`ticks-server: ${line}`),
    ),
  )
}
if (positionals.length > 0) usageError(`unexpected argument ${JSON.stringify(positionals[0])}`, true)
if (values.conversation !== undefined || values.json !== undefined) {
  usageError('--conversation and --json belong to ticks-server quarantine list', true)
}

if (values.help) {
  console.log(HELP)
  process.exit(0)
}

const env = process.env
/**
 * The flag, else the env var, else undefined. Given but empty is an error, never "unset": an empty
 * `TICKS_JWT_SECRET=` would otherwise mean dev mode, `--host ''` every interface.
 */
const pick = (flag: string, name: string): string | undefined => {
  const given = values[flag]
  if (typeof given === 'string') {
    if (given.trim() === '') usageError(`--${flag} is empty`)
    return given
  }
  const fromEnv = env[name]
  if (fromEnv === undefined) return undefined
  if (fromEnv.trim() === '') usageError(`${name} is set but empty (unset it, or give a value)`)
  return fromEnv
}

/**
 * A list: every use of the flag, else the env var, each comma-separated (undefined when neither is
 * given). Empty, or with an empty entry, is an error, as an empty value is for `pick`.
 */
const pickList = (flag: string, name: string): string[] | undefined => {
  const given = values[flag]
  const flagged = typeof given === 'string' ? [given] : Array.isArray(given) ? given : undefined
  const texts = flagged ?? (env[name] !== undefined ? [env[name]] : undefined)
  if (texts === undefined) return undefined
  const label = flagged ? `--${flag}` : name
  if (texts.some((text) => text.trim() === '')) usageError(`${label} is empty`)
  const entries = texts.flatMap((text) => text.split(',')).map((entry) => entry.trim())
  if (entries.includes('')) usageError(`${label} has an empty entry (values are comma-separated)`)
  return entries
}

/** A whole number, at least 0, or undefined when not given. */
const pickCount = (flag: string, name: string, unit: string): number | undefined => {
  const text = pick(flag, name)
  if (text === undefined) return undefined
  if (!/^\d+$/.test(text) || Number(text) > 2_147_483_647) usageError(`invalid --${flag}: ${text} (${unit})`)
  return Number(text)
}

/** A switch: the flag, else its env var as 1 / true or 0 / false (given but empty is an error too). */
const pickSwitch = (flag: string, name: string): boolean => {
  if (values[flag] === true) return true
  const fromEnv = env[name]?.trim()
  if (fromEnv === undefined) return false
  if (fromEnv === '') usageError(`${name} is set but empty (unset it, or give 1 or 0)`)
  if (fromEnv === '1' || fromEnv.toLowerCase() === 'true') return true
  if (fromEnv === '0' || fromEnv.toLowerCase() === 'false') return false
  usageError(`invalid ${name}: ${fromEnv} (1 or 0)`)
}

const portText = pick('port', 'TICKS_PORT') ?? '8080'
const port = Number(portText)
if (!/^\d+$/.test(portText) || port > 65535) usageError(`invalid port: ${portText}`)

/** A whole number of milliseconds, at least `min`, or undefined when not given. */
const pickMs = (flag: string, name: string, min: number): number | undefined => {
  const text = pick(flag, name)
  if (text === undefined) return undefined
  const ms = Number(text)
  if (!/^\d+$/.test(text) || ms < min || ms > 2_147_483_647)
    usageError(`invalid --${flag}: ${text} (milliseconds, at least ${min})`)
  return ms
}
const redis = pick('redis', 'TICKS_REDIS')
const nodeId = pick('node-id', 'TICKS_NODE_ID')
const leaseMs = pickMs('lease-ms', 'TICKS_LEASE_MS', 500)
const renewMs = pickMs('lease-renew-ms', 'TICKS_LEASE_RENEW_MS', 50)
if ((leaseMs ?? 5000) <= (renewMs ?? 1000) * 2) {
  usageError('--lease-ms must be more than twice --lease-renew-ms, or a lease lapses between renewals')
}

const logLevel = pick('log-level', 'TICKS_LOG_LEVEL') ?? 'info'
if (!LOG_LEVELS.includes(logLevel))
  usageError(`invalid log level: ${logLevel} (one of ${LOG_LEVELS.join(', ')})`)

const timeoutText = pick('shutdown-timeout', 'TICKS_SHUTDOWN_TIMEOUT') ?? '10'
const shutdownTimeoutMs = Number(timeoutText) * 1000
if (!Number.isFinite(shutdownTimeoutMs) || shutdownTimeoutMs <= 0)
  usageError(`invalid shutdown timeout: ${timeoutText} (seconds, more than 0)`)

const store = pick('store', 'TICKS_STORE') ?? 'sqlite'
const postgres: PostgresOptions = {}
const poolSizeText = pick('pg-pool-size', 'TICKS_PG_POOL_SIZE')
const statementTimeoutText = pick('pg-statement-timeout', 'TICKS_PG_STATEMENT_TIMEOUT')
if ((poolSizeText !== undefined || statementTimeoutText !== undefined) && !isPostgresUrl(store)) {
  usageError(
    '--pg-pool-size and --pg-statement-timeout apply to a postgres:// store only (--store / TICKS_STORE)',
  )
}
if (poolSizeText !== undefined) {
  postgres.poolSize = Number(poolSizeText)
  if (!/^\d+$/.test(poolSizeText) || postgres.poolSize < 1 || postgres.poolSize > 1000)
    usageError(`invalid PostgreSQL pool size: ${poolSizeText} (connections, 1 to 1000)`)
}
if (statementTimeoutText !== undefined) {
  postgres.statementTimeoutMs = Number(statementTimeoutText)
  if (!/^\d+$/.test(statementTimeoutText) || postgres.statementTimeoutMs > 2_147_483_647)
    usageError(`invalid PostgreSQL statement timeout: ${statementTimeoutText} (milliseconds, 0 for none)`)
}

const jwtAudience = pickList('jwt-audience', 'TICKS_JWT_AUDIENCE')
const jwtIssuer = pickList('jwt-issuer', 'TICKS_JWT_ISSUER')
const jwtClockToleranceSeconds = pickCount('jwt-clock-tolerance', 'TICKS_JWT_CLOCK_TOLERANCE', 'seconds')
const auth = {
  jwtSecret: pick('jwt-secret', 'TICKS_JWT_SECRET'),
  jwksUrl: pick('jwks-url', 'TICKS_JWKS_URL'),
  devSessions: pickSwitch('dev-sessions', 'TICKS_DEV_SESSIONS'),
  ...(jwtAudience !== undefined && { jwtAudience }),
  ...(jwtIssuer !== undefined && { jwtIssuer }),
  ...(jwtClockToleranceSeconds !== undefined && { jwtClockToleranceSeconds }),
}
const authProblem = authOptionsProblem(auth)
if (authProblem) {
  usageError(
    `${authProblem} (--jwt-secret / TICKS_JWT_SECRET, --jwks-url / TICKS_JWKS_URL${auth.devSessions ? ', --dev-sessions / TICKS_DEV_SESSIONS' : ''})`,
  )
}

const allowedOrigins = pickList('allowed-origin', 'TICKS_ALLOWED_ORIGINS') ?? []
for (const origin of allowedOrigins) {
  const problem = originProblem(origin)
  if (problem) usageError(`--allowed-origin / TICKS_ALLOWED_ORIGINS: ${problem}`)
}

/** `true`, a number of proxy hops, or the proxies' addresses / CIDRs. */
const trustProxyText = pick('trust-proxy', 'TICKS_TRUST_PROXY')
const trustProxy: FastifyServerOptions['trustProxy'] =
  trustProxyText === undefined || trustProxyText === 'false'
    ? undefined
    : trustProxyText === 'true'
      ? true
      : /^\d+$/.test(trustProxyText)
        ? (_address: string, hop: number) => hop < Number(trustProxyText)
        : trustProxyText.split(',').map((entry) => entry.trim())

const historyWindow = pickCount('history-window', 'TICKS_HISTORY_WINDOW', 'messages, 0 for no sealing')
const restRequestsPerMinute = pickCount('rest-rate-limit', 'TICKS_REST_RATE_LIMIT', 'requests per minute')
if ((redis !== undefined || nodeId !== undefined) && !isPostgresUrl(store)) {
  usageError(
    '--redis and --node-id run one of several nodes, which need a store they share: --store postgres://…',
  )
}
if (
  (redis !== undefined || nodeId !== undefined) &&
  auth.jwtSecret === undefined &&
  auth.jwksUrl === undefined
) {
  usageError(
    'several nodes need --jwt-secret or --jwks-url (dev-mode tokens are signed by a secret of each node)',
  )
}

try {
  const { app, url } = await startServer({
    port,
    host: pick('host', 'TICKS_HOST') ?? 'localhost',
    data: pick('data', 'TICKS_DATA') ?? './data',
    store,
    postgres,
    ...(redis !== undefined && { redis }),
    ...(nodeId !== undefined && { nodeId }),
    cluster: { ...(leaseMs !== undefined && { leaseMs }), ...(renewMs !== undefined && { renewMs }) },
    ...auth,
    allowedOrigins,
    ...(trustProxy !== undefined && { trustProxy }),
    ...(historyWindow !== undefined && { historyWindow }),
    ...(restRequestsPerMinute !== undefined && {
      limits: { restRequestsPerWindow: restRequestsPerMinute, restRateWindowMs: 60_000 },
    }),
    logger: { level: logLevel },
  })
  app.log.info({ url }, `Ticks server listening on ${url}`)
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) {
      app.log.warn({ signal }, 'second signal: exiting now, without finishing the shutdown')
      process.exit(1)
    }
    stopping = true
    app.log.info({ signal }, 'shutting down: flushing rooms, closing sockets with 1012')
    // Whatever holds the shutdown (a store that does not answer, a hook that hangs), the process
    // must still end: an orchestrator would SIGKILL it anyway, later and without a log line.
    setTimeout(() => {
      app.log.error({ timeoutMs: shutdownTimeoutMs }, 'shutdown deadline passed: exiting without finishing')
      process.exit(1)
    }, shutdownTimeoutMs).unref()
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

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { killCliServers, runCliToExit, startCli } from './helpers/cli-process.js'
import { freePort } from './helpers/free-port.js'
import { startPostgres, type TestPostgres } from './helpers/postgres.js'
import { JWT_SECRET, tokenFor } from './helpers/server.js'

const dataDir = mkdtempSync(join(tmpdir(), 'ticks-cli-'))
afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

/** Every case here refuses to start, or prints and exits. */
const runCli = (args: string[], env: Record<string, string> = {}) =>
  runCliToExit(['--data', dataDir, ...args], env)

describe('ticks-server CLI refuses what it cannot do, with a reason', () => {
  it('--help lists the flags and exits 0', async () => {
    const { code, stdout } = await runCli(['--help'])
    expect(code).toBe(0)
    for (const flag of [
      '--port',
      '--host',
      '--data',
      '--store',
      '--pg-pool-size',
      '--pg-statement-timeout',
      '--jwt-secret',
      '--jwks-url',
      '--dev-sessions',
      '--redis',
      '--jwt-audience',
      '--jwt-issuer',
      '--jwt-clock-tolerance',
      '--allowed-origin',
      '--trust-proxy',
      '--rest-rate-limit',
    ]) {
      expect(stdout).toContain(flag)
    }
  })

  it('--redis / --node-id (or their env vars) need a shared store and real tokens: exit 2 before listening', async () => {
    const sqlite = await runCli([
      '--port',
      '0',
      '--redis',
      'redis://127.0.0.1:6379',
      '--jwt-secret',
      'x'.repeat(32),
    ])
    expect(sqlite.code).toBe(2)
    expect(sqlite.stderr).toMatch(/need a store they share: --store postgres/)
    expect(sqlite.stdout).not.toMatch(/listening/)
    const byEnv = await runCli(['--port', '0', '--jwt-secret', 'x'.repeat(32)], { TICKS_NODE_ID: 'a' })
    expect(byEnv.code).toBe(2)
    const devMode = await runCli(['--port', '0', '--store', 'postgres://127.0.0.1:1/x', '--node-id', 'a'])
    expect(devMode.code).toBe(2)
    expect(devMode.stderr).toMatch(/several nodes need --jwt-secret or --jwks-url/)
    const lease = await runCli(['--port', '0', '--lease-ms', '1000', '--lease-renew-ms', '600'])
    expect(lease.code).toBe(2)
    expect(lease.stderr).toMatch(/more than twice/)
  }, 30_000)

  it('a postgres:// store that cannot be reached stops the start at once, naming it (password hidden); a bad port is refused', async () => {
    const pgPort = await freePort()
    const started = Date.now()
    const postgres = await runCli([
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--store',
      `postgresql://ticks:hunter2@127.0.0.1:${pgPort}/ticks`,
    ])
    expect(postgres.code).toBe(1)
    expect(postgres.stderr).toMatch(
      new RegExp(
        `could not start: PostgreSQL at postgresql://ticks:\\*\\*\\*@127\\.0\\.0\\.1:${pgPort}/ticks: .*ECONNREFUSED`,
      ),
    )
    expect(postgres.stderr).not.toContain('hunter2')
    expect(postgres.stdout).not.toMatch(/listening/)
    expect(Date.now() - started).toBeLessThan(15_000)
    const port = await runCli(['--port', '99999'])
    expect(port.code).toBe(2)
    expect(port.stderr).toMatch(/invalid port: 99999/)
  }, 30_000)

  it('a flag or env var given empty is refused, not taken as unset or as "every interface"', async () => {
    for (const args of [
      ['--jwt-secret', ''],
      ['--host', ''],
      ['--port', ''],
      ['--data', ''],
      ['--jwks-url', ''],
      ['--store', ''],
      ['--pg-pool-size', ''],
      ['--pg-statement-timeout', ''],
    ]) {
      const result = await runCli(args)
      expect(result.code, args.join(' ')).toBe(2)
      expect(result.stderr, args.join(' ')).toMatch(new RegExp(`${args[0]} is empty`))
    }
    const env = await runCli(['--port', '0'], { TICKS_JWT_SECRET: '' })
    expect(env.code).toBe(2)
    expect(env.stderr).toMatch(/TICKS_JWT_SECRET is set but empty/)
  }, 60_000)

  it('refuses PostgreSQL settings that are no number, or without a postgres:// store', async () => {
    const store = ['--port', '0', '--store', 'postgres://ticks@127.0.0.1:1/ticks']
    for (const [args, reason] of [
      [[...store, '--pg-pool-size', '0'], /invalid PostgreSQL pool size: 0/],
      [[...store, '--pg-pool-size', 'ten'], /invalid PostgreSQL pool size: ten/],
      [[...store, '--pg-statement-timeout', '5s'], /invalid PostgreSQL statement timeout: 5s/],
      [[...store, '--pg-statement-timeout=-1'], /invalid PostgreSQL statement timeout: -1/],
      [['--port', '0', '--pg-pool-size', '4'], /apply to a postgres:\/\/ store only/],
    ] as const) {
      const result = await runCli([...args])
      expect(result.code, args.join(' ')).toBe(2)
      expect(result.stderr, args.join(' ')).toMatch(reason)
    }
    const byEnv = await runCli(store, { TICKS_PG_STATEMENT_TIMEOUT: '' })
    expect(byEnv.code).toBe(2)
    expect(byEnv.stderr).toMatch(/TICKS_PG_STATEMENT_TIMEOUT is set but empty/)
  }, 60_000)

  it('refuses a JWT secret under 32 bytes, and a secret together with a JWKS URL', async () => {
    const short = await runCli(['--port', '0', '--jwt-secret', 'short-secret'])
    expect(short.code).toBe(2)
    expect(short.stderr).toMatch(/at least 32 bytes/)
    const both = await runCli([
      '--port',
      '0',
      '--jwt-secret',
      'x'.repeat(40),
      '--jwks-url',
      'https://id.example/jwks.json',
    ])
    expect(both.code).toBe(2)
    expect(both.stderr).toMatch(/not both/)
  }, 30_000)

  it('--dev-sessions signs with the JWT secret: refused with a JWKS URL; TICKS_DEV_SESSIONS is 1 or 0, never empty', async () => {
    const jwks = ['--port', '0', '--jwks-url', 'https://id.example/jwks.json']
    const byFlag = await runCli([...jwks, '--dev-sessions'])
    expect(byFlag.code).toBe(2)
    expect(byFlag.stderr).toMatch(/no key to sign with .*--dev-sessions \/ TICKS_DEV_SESSIONS/)
    expect(byFlag.stdout).not.toMatch(/listening/)
    const byEnv = await runCli(jwks, { TICKS_DEV_SESSIONS: '1' })
    expect(byEnv.code).toBe(2)
    expect(byEnv.stderr).toMatch(/no key to sign with/)
    for (const [value, reason] of [
      ['', /TICKS_DEV_SESSIONS is set but empty/],
      ['yes', /invalid TICKS_DEV_SESSIONS: yes \(1 or 0\)/],
    ] as const) {
      const result = await runCli(['--port', '0'], { TICKS_DEV_SESSIONS: value })
      expect(result.code, value).toBe(2)
      expect(result.stderr, value).toMatch(reason)
    }
  }, 30_000)

  it('an unknown option or a positional argument prints the usage, exit 2', async () => {
    for (const args of [['--prot', '8080'], ['serve']]) {
      const result = await runCli(args)
      expect(result.code, args.join(' ')).toBe(2)
      expect(result.stderr).toContain('--jwt-secret')
      expect(result.stderr).not.toMatch(/ERR_PARSE_ARGS|\n\s+at /)
    }
  }, 30_000)
})

describe('ticks-server CLI: the HTTP defences (issue 16)', () => {
  afterAll(killCliServers)

  it('refuses an origin that is no origin, an empty list entry, an empty audience and a tolerance that is no number', async () => {
    for (const [args, env, reason] of [
      [['--allowed-origin', 'app.example'], {}, /--allowed-origin .*"app.example" is not an origin/],
      [
        ['--allowed-origin', 'https://app.example/chat'],
        {},
        /scheme:\/\/host\[:port\] only \(https:\/\/app.example\)/,
      ],
      [
        [],
        { TICKS_ALLOWED_ORIGINS: 'https://a.example,,https://b.example' },
        /TICKS_ALLOWED_ORIGINS has an empty entry/,
      ],
      [['--jwt-audience', ''], {}, /--jwt-audience is empty/],
      [['--jwt-clock-tolerance=-5'], {}, /invalid --jwt-clock-tolerance: -5 \(seconds\)/],
      [['--rest-rate-limit', 'lots'], {}, /invalid --rest-rate-limit: lots/],
    ] as const) {
      const result = await runCli(['--port', '0', ...args], env)
      expect(result.code, args.join(' ')).toBe(2)
      expect(result.stderr, args.join(' ')).toMatch(reason)
    }
  }, 60_000)

  it('serves with allowed origins from the env, a JWT audience, a REST rate limit behind a trusted proxy', async () => {
    const server = await startCli(
      [
        '--store',
        'memory',
        '--jwt-secret',
        JWT_SECRET,
        '--jwt-audience',
        'ticks',
        '--rest-rate-limit',
        '2',
        '--trust-proxy',
        '127.0.0.1',
      ],
      { TICKS_ALLOWED_ORIGINS: 'https://a.example, https://b.example:8443' },
    )
    const get = (headers: Record<string, string>) => fetch(`${server.url}/api/conversations`, { headers })
    const listed = await get({ origin: 'https://b.example:8443' })
    expect(listed.headers.get('access-control-allow-origin')).toBe('https://b.example:8443')
    expect((await get({ origin: 'https://evil.example' })).status).toBe(403)
    const noAudience = await get({ authorization: `Bearer ${await tokenFor('alice')}` })
    expect(await noAudience.json()).toEqual({
      error: { code: 'unauthorized', message: 'token audience not accepted' },
    })
    const viaProxy = { 'x-forwarded-for': '198.51.100.4' }
    expect((await get(viaProxy)).status).toBe(401)
    expect((await get(viaProxy)).status).toBe(401)
    expect((await get(viaProxy)).status).toBe(429)
    server.process.kill('SIGTERM')
    expect((await server.exited).code).toBe(0)
  }, 60_000)
})

describe('ticks-server CLI on PostgreSQL', () => {
  let postgres: TestPostgres
  beforeAll(async () => {
    postgres = await startPostgres()
  }, 120_000)
  afterAll(async () => {
    killCliServers()
    await postgres?.close()
  }, 60_000)

  it('--store postgres://… with --pg-pool-size and TICKS_PG_STATEMENT_TIMEOUT serves, is ready, and keeps what it was sent across a restart', async () => {
    const url = await postgres.createDatabase()
    const start = () =>
      startCli(['--data', dataDir, '--store', url, '--pg-pool-size', '3', '--jwt-secret', JWT_SECRET], {
        TICKS_PG_STATEMENT_TIMEOUT: '5000',
      })
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${await tokenFor('alice')}` }
    let server = await start()
    expect(await (await fetch(`${server.url}/readyz`)).json()).toEqual({ status: 'ready' })
    const created = await fetch(`${server.url}/api/conversations`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ title: 'on PostgreSQL', members: { bob: 'member' } }),
    })
    const { id } = (await created.json()) as { id: string }
    const sent = await fetch(`${server.url}/api/conversations/${id}/messages`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ text: 'stored in PostgreSQL' }),
    })
    expect(sent.status).toBe(201)
    server.process.kill('SIGTERM')
    expect((await server.exited).code).toBe(0)

    server = await start()
    const conversation = (await (
      await fetch(`${server.url}/api/conversations/${id}`, { headers })
    ).json()) as {
      messages: { text: string; seq?: number }[]
    }
    expect(conversation.messages).toMatchObject([{ text: 'stored in PostgreSQL', seq: 1 }])
    server.process.kill('SIGTERM')
    expect((await server.exited).code).toBe(0)
  }, 60_000)
})

import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { SERVER_CLI_FROM_SOURCES, SERVER_DIR } from './helpers/cli-command.js'

const dataDir = mkdtempSync(join(tmpdir(), 'ticks-cli-'))
afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

/** Run the CLI from its sources until it exits by itself (every case here refuses to start). */
function runCli(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [...SERVER_CLI_FROM_SOURCES, '--data', dataDir, ...args], {
    cwd: SERVER_DIR,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
  })
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    }),
  )
}

describe('ticks-server CLI refuses what it cannot do, with a reason', () => {
  it('--help lists the flags and exits 0', async () => {
    const { code, stdout } = await runCli(['--help'])
    expect(code).toBe(0)
    for (const flag of ['--port', '--host', '--data', '--store', '--jwt-secret', '--jwks-url', '--redis']) {
      expect(stdout).toContain(flag)
    }
  })

  it('--redis (or TICKS_REDIS): not available yet, exit 2 before listening', async () => {
    const byFlag = await runCli(['--port', '0', '--redis', 'redis://127.0.0.1:6379'])
    expect(byFlag.code).toBe(2)
    expect(byFlag.stderr).toMatch(/Redis fan-out is not implemented yet/)
    expect(byFlag.stdout).not.toMatch(/listening/)
    const byEnv = await runCli(['--port', '0'], { TICKS_REDIS: 'redis://127.0.0.1:6379' })
    expect(byEnv.code).toBe(2)
  }, 30_000)

  it('a postgres:// store is named as not implemented; a bad port is refused', async () => {
    const postgres = await runCli([
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--store',
      'postgres://x@127.0.0.1/ticks',
    ])
    expect(postgres.code).toBe(1)
    expect(postgres.stderr).toMatch(/postgres store is not implemented yet/)
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
    ]) {
      const result = await runCli(args)
      expect(result.code, args.join(' ')).toBe(2)
      expect(result.stderr, args.join(' ')).toMatch(new RegExp(`${args[0]} is empty`))
    }
    const env = await runCli(['--port', '0'], { TICKS_JWT_SECRET: '' })
    expect(env.code).toBe(2)
    expect(env.stderr).toMatch(/TICKS_JWT_SECRET is set but empty/)
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

  it('an unknown option or a positional argument prints the usage, exit 2', async () => {
    for (const args of [['--prot', '8080'], ['serve']]) {
      const result = await runCli(args)
      expect(result.code, args.join(' ')).toBe(2)
      expect(result.stderr).toContain('--jwt-secret')
      expect(result.stderr).not.toMatch(/ERR_PARSE_ARGS|\n\s+at /)
    }
  }, 30_000)
})

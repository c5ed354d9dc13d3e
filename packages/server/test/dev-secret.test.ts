import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createAuthenticator } from '../src/auth/jwt.js'

describe('the dev-mode token secret kept in the data dir', () => {
  let dataDir: string
  const warnings: string[] = []
  const log = { warn: (_obj: object, msg: string) => void warnings.push(msg) }
  const secretFile = () => join(dataDir, 'dev-jwt-secret')
  afterEach(() => {
    rmSync(dataDir, { recursive: true, force: true })
    warnings.length = 0
  })
  const fresh = () => {
    dataDir = mkdtempSync(join(tmpdir(), 'ticks-dev-secret-'))
  }

  it('is created whole (no temp file left), owner-only, and survives a restart', async () => {
    fresh()
    const first = createAuthenticator({ dataDir, log })
    const token = await first.issue!('alice')
    expect(statSync(secretFile()).mode & 0o777).toBe(0o600)
    expect(readdirSync(dataDir)).toEqual(['dev-jwt-secret'])
    expect(Buffer.from(readFileSync(secretFile(), 'utf8'), 'base64').byteLength).toBe(32)
    await expect(createAuthenticator({ dataDir, log }).verify(token)).resolves.toEqual({
      userId: 'alice',
      admin: false,
    })
    expect(warnings).toEqual([])
  })

  it('an empty file (a crash mid-write in older versions) is replaced with a warning, not a startup failure', async () => {
    fresh()
    writeFileSync(secretFile(), '', { mode: 0o600 })
    const auth = createAuthenticator({ dataDir, log })
    await expect(auth.verify(await auth.issue!('alice'))).resolves.toEqual({ userId: 'alice', admin: false })
    expect(Buffer.from(readFileSync(secretFile(), 'utf8'), 'base64').byteLength).toBe(32)
    expect(warnings).toEqual(['the dev token secret file was empty: a new secret replaces it'])
  })

  it('a secret shorter than 32 bytes is refused with the file named', () => {
    fresh()
    writeFileSync(secretFile(), Buffer.from('short').toString('base64'), { mode: 0o600 })
    expect(() => createAuthenticator({ dataDir, log })).toThrow(
      /dev-jwt-secret holds 5 bytes of secret, fewer than 32/,
    )
  })

  it('a secret file others can read is used, with a warning', async () => {
    fresh()
    createAuthenticator({ dataDir, log })
    chmodSync(secretFile(), 0o644)
    createAuthenticator({ dataDir, log })
    expect(warnings).toEqual([
      'the dev token secret is readable by other users of this machine: chmod 600 it',
    ])
  })
})

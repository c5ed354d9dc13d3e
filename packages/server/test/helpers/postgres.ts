import { execFile, execFileSync } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { freePort } from './free-port.js'

const run = promisify(execFile)

/**
 * A real PostgreSQL (Debian's package, not its system service) on 127.0.0.1, private to one test
 * suite: its own cluster in a temp dir (`initdb`), on a free port, stopped and removed at the end.
 */
export interface TestPostgres {
  port: number
  /** A new, empty database; resolves with its URL. */
  createDatabase(): Promise<string>
  /** Stop it as a crash would (`pg_ctl stop -m immediate`): connections are cut, nothing is flushed. */
  stop(): Promise<void>
  /** Start it again on the same port, with the same data. */
  start(): Promise<void>
  close(): Promise<void>
}

/**
 * Where initdb and pg_ctl are: pg_config's bindir, else the newest /usr/lib/postgresql/<n>/bin
 * (Debian keeps them off PATH), else wherever an initdb on PATH really lives.
 */
export function postgresBinDir(): string {
  const output = (command: string, args: string[]) => {
    try {
      return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    } catch {
      return undefined
    }
  }
  // Debian ships pg_config in libpq-dev, for the libpq version, which may not be the server's.
  const configured = output('pg_config', ['--bindir'])
  if (configured && existsSync(join(configured, 'initdb'))) return configured
  const root = '/usr/lib/postgresql'
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((version) => existsSync(join(root, version, 'bin', 'initdb')))
        .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))
    : []
  if (versions.length > 0) return join(root, versions[0]!, 'bin')
  const onPath = output('sh', ['-c', 'command -v initdb'])
  if (onPath) return dirname(realpathSync(onPath))
  throw new Error(
    'no PostgreSQL server binaries (initdb): install the Debian package postgresql (.ci/run does)',
  )
}

export async function startPostgres(): Promise<TestPostgres> {
  const bin = postgresBinDir()
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'ticks-pg-'))
  const data = join(dir, 'data')
  // initdb refuses to run as root, and CI runs as root: the cluster belongs to `postgres` then.
  const asRoot = process.getuid?.() === 0
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim())
    chownSync(dir, uid, gid)
  }
  const pgCommand = async (tool: string, args: string[]) => {
    const [command, ...rest] = asRoot
      ? ['runuser', '-u', 'postgres', '--', join(bin, tool), ...args]
      : [join(bin, tool), ...args]
    try {
      await run(command!, rest, { cwd: dir, timeout: 60_000 })
    } catch (error) {
      const { stdout, stderr } = error as { stdout?: string; stderr?: string }
      throw new Error(
        `${tool} ${args.join(' ')} failed: ${(error as Error).message}\n${stdout ?? ''}${stderr ?? ''}`,
      )
    }
  }
  const start = () =>
    pgCommand('pg_ctl', [
      'start',
      '-D',
      data,
      '-l',
      join(dir, 'postgres.log'),
      '-w',
      '-t',
      '60',
      '-o',
      `-p ${port} -c listen_addresses=127.0.0.1 -k ${dir}`,
    ])
  let running = false

  await pgCommand('initdb', [
    '-D',
    data,
    '-U',
    'postgres',
    '--auth=trust',
    '--encoding=UTF8',
    '--locale=C',
    // Only initdb's own fsyncs: the server itself runs with fsync on.
    '--no-sync',
  ])
  await start()
  running = true

  const admin = () =>
    new pg.Client({
      host: '127.0.0.1',
      port,
      user: 'postgres',
      database: 'postgres',
      connectionTimeoutMillis: 5000,
    })
  let databases = 0
  return {
    port,
    async createDatabase() {
      const name = `ticks_${++databases}`
      const client = admin()
      await client.connect()
      try {
        await client.query(`CREATE DATABASE ${name}`)
      } finally {
        await client.end()
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`
    },
    async stop() {
      if (!running) return
      await pgCommand('pg_ctl', ['stop', '-D', data, '-m', 'immediate', '-w'])
      running = false
    },
    async start() {
      if (running) return
      await start()
      running = true
    },
    async close() {
      try {
        if (running) await pgCommand('pg_ctl', ['stop', '-D', data, '-m', 'immediate', '-w'])
        running = false
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
  }
}

import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { chownSync, existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import pg from 'pg'

/**
 * PostgreSQL and Redis (Debian's packages, never their system services) as private processes on
 * 127.0.0.1, each in a directory its caller made and removes: what the tests start
 * (test/helpers/postgres.ts, redis.ts) and what `npm run cluster` runs on (scripts/cluster.ts).
 */

/**
 * Run a tool to its end (killed after 60 s); resolves with why it failed, if it did, and what it
 * printed. execFile would do, but it cannot start a process in its own group (`detached`).
 */
function runTool(
  command: string,
  args: string[],
  cwd: string,
  detached: boolean,
): Promise<{ failure: string | undefined; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, detached, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.once('error', (error) => {
      clearTimeout(timer)
      resolve({ failure: error.message, output })
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ failure: code === 0 ? undefined : `exit ${signal ?? code}`, output })
    })
  })
}

export interface LocalServiceOptions {
  /**
   * Run the service in its own process group, so that a Ctrl-C at the terminal reaches only the
   * caller, which then stops everything in order (nodes before the store they flush to). Tests
   * leave it off: an interrupted test run takes its Redis with it.
   */
  detached?: boolean
}

/** A free loopback port, for a child process whose port the caller must know before it listens. */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
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

export interface LocalPostgres {
  readonly port: number
  /** The postmaster's pid while it runs (from its postmaster.pid). */
  readonly pid: number | undefined
  /** CREATE DATABASE `name`; resolves with its URL. */
  createDatabase(name: string): Promise<string>
  /** Start it again on the same port, with the same data (nothing when it runs). */
  start(): Promise<void>
  /**
   * `pg_ctl stop -m fast` ends the sessions and checkpoints; `immediate` is a crash: connections
   * are cut, nothing is flushed. Nothing when it is stopped.
   */
  stop(mode: 'fast' | 'immediate'): Promise<void>
}

/**
 * A new PostgreSQL cluster in `dir` (`initdb`, trust auth for the user `postgres`), started on
 * `port` with its socket in `dir` too. initdb refuses to run as root, and CI runs as root: then
 * `dir` is handed to the `postgres` user and every tool runs as it (`runuser`), so `dir` must be
 * reachable by that user.
 */
export async function startLocalPostgres(
  dir: string,
  port: number,
  options: LocalServiceOptions = {},
): Promise<LocalPostgres> {
  const bin = postgresBinDir()
  const data = join(dir, 'data')
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
    const { failure, output } = await runTool(command!, rest, dir, options.detached === true)
    if (failure) throw new Error(`${tool} ${args.join(' ')} failed: ${failure}\n${output}`)
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

  return {
    port,
    get pid() {
      if (!running) return undefined
      try {
        return Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n', 1)[0])
      } catch {
        return undefined
      }
    },
    async createDatabase(name) {
      const client = new pg.Client({
        host: '127.0.0.1',
        port,
        user: 'postgres',
        database: 'postgres',
        connectionTimeoutMillis: 5000,
      })
      await client.connect()
      try {
        await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`)
      } finally {
        await client.end()
      }
      return `postgres://postgres@127.0.0.1:${port}/${encodeURIComponent(name)}`
    },
    async start() {
      if (running) return
      await start()
      running = true
    },
    async stop(mode) {
      if (!running) return
      await pgCommand('pg_ctl', ['stop', '-D', data, '-m', mode, '-w'])
      running = false
    },
  }
}

export interface LocalRedis {
  readonly url: string
  readonly port: number
  /** The redis-server's pid while it runs. */
  readonly pid: number | undefined
  /** Start it again on the same port (nothing when it runs). */
  start(): Promise<void>
  /** SIGKILL is a crash, SIGTERM a clean exit; it persists nothing either way. */
  stop(signal: 'SIGKILL' | 'SIGTERM'): Promise<void>
}

/** A redis-server on 127.0.0.1 and `port`, persisting nothing, its working dir `dir`. */
export async function startLocalRedis(
  dir: string,
  port: number,
  options: LocalServiceOptions = {},
): Promise<LocalRedis> {
  let child: ChildProcess | undefined

  const start = async () => {
    const process_ = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
      { stdio: ['ignore', 'pipe', 'pipe'], detached: options.detached === true },
    )
    child = process_
    let output = ''
    await new Promise<void>((resolve, reject) => {
      const fail = (reason: string) => {
        clearTimeout(timer)
        process_.kill('SIGKILL')
        child = undefined
        reject(new Error(`redis-server on ${port}: ${reason}\n${output}`))
      }
      const timer = setTimeout(() => fail('not ready within 10 s'), 10_000)
      // The output is read to the end (the pipe must never fill), but only looked at until ready.
      process_.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString()
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer)
          resolve()
        }
      })
      process_.stderr?.on('data', (chunk: Buffer) => {
        output += chunk.toString()
      })
      process_.once('error', (error) =>
        fail(`${error.message} (install the Debian package redis-server; .ci/run does)`),
      )
      process_.once('exit', (code, signal) => fail(`exited (${signal ?? code}) before it was ready`))
    })
  }
  const stop = async (signal: 'SIGKILL' | 'SIGTERM') => {
    const running = child
    child = undefined
    if (!running || running.exitCode !== null || running.signalCode !== null) return
    const exited = new Promise((resolve) => running.once('exit', resolve))
    running.kill(signal)
    await exited
  }
  await start()
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() {
      return child?.pid
    },
    start: async () => {
      if (!child) await start()
    },
    stop,
  }
}

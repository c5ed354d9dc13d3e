import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const SERVER_DIR = fileURLToPath(new URL('../../../server', import.meta.url))
const CORE_DIR = join(SERVER_DIR, '../core')
const CLI = join(SERVER_DIR, 'dist/cli.js')

/** A free loopback port, so a restarted server can come back on the same one. */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** Newest mtime under a directory (ms). */
function newest(dir: string): number {
  let latest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs)
  }
  return latest
}

/** Whether `dist` of the server and of core is at least as new as its sources (tsc -b touches its build info). */
function builtIsCurrent(): boolean {
  try {
    return (
      existsSync(CLI) &&
      [SERVER_DIR, CORE_DIR].every(
        (dir) => statSync(join(dir, 'tsconfig.tsbuildinfo')).mtimeMs >= newest(join(dir, 'src')),
      )
    )
  } catch {
    return false
  }
}

/**
 * `ticks-server` as a child process on SQLite in `dataDir`, which we can SIGKILL and restart.
 * Runs the built CLI (`npm run build`); with `fromSources: 'if-stale'` it runs the sources through
 * tsx instead when the build is missing or older than the sources (slower to start).
 */
export function serverProcess(options: {
  port: number
  dataDir: string
  fromSources?: 'never' | 'if-stale'
  /** Every line the server prints (pino JSON on stdout, anything on stderr). */
  onLine?: (line: string) => void
}) {
  const useSources = options.fromSources === 'if-stale' && !builtIsCurrent()
  if (!useSources && !existsSync(CLI))
    throw new Error(`${CLI} is missing: run \`npm run build\` (npm test does) first`)
  const entry = useSources
    ? ['--conditions=source', '--import', 'tsx', join(SERVER_DIR, 'src/cli.ts')]
    : [CLI]
  let child: ChildProcess | undefined

  const signal = async (name: NodeJS.Signals): Promise<number | null> => {
    const running = child
    child = undefined
    if (!running || running.exitCode !== null) return running?.exitCode ?? null
    const exited = new Promise<number | null>((resolve) => running.once('exit', (code) => resolve(code)))
    running.kill(name)
    return exited
  }

  return {
    /** What runs: the built CLI or the sources. */
    entry: useSources ? 'sources (tsx)' : 'dist/cli.js',
    async start(): Promise<void> {
      const started = spawn(
        process.execPath,
        [
          ...entry,
          '--port',
          String(options.port),
          '--host',
          '127.0.0.1',
          '--data',
          options.dataDir,
          '--store',
          'sqlite',
        ],
        { cwd: SERVER_DIR, stdio: ['ignore', 'pipe', 'pipe'] },
      )
      child = started
      // Kept only until the server is up (for an error message); every line goes to `onLine`.
      let output = ''
      let up = false
      const splitLines = (stream: NodeJS.ReadableStream) => {
        let rest = ''
        stream.on('data', (chunk: Buffer) => {
          if (!up) output += chunk.toString()
          const parts = (rest + chunk.toString()).split('\n')
          rest = parts.pop()!
          for (const line of parts) options.onLine?.(line)
        })
      }
      splitLines(started.stdout!)
      splitLines(started.stderr!)
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`server did not start: ${output}`)), 30_000)
        const onExit = (code: number | null) => {
          clearTimeout(timer)
          reject(new Error(`server exited with ${code}: ${output}`))
        }
        const onData = () => {
          if (!output.includes('listening on')) return
          up = true
          output = ''
          clearTimeout(timer)
          started.stdout!.off('data', onData)
          started.off('exit', onExit)
          resolve()
        }
        started.stdout!.on('data', onData)
        started.once('exit', onExit)
      })
    },
    /** kill -9: no flush, no close frames; whatever was not committed is gone. */
    async kill(): Promise<void> {
      await signal('SIGKILL')
    },
    /** SIGTERM: the server flushes every room, closes sockets with 1012 and exits; resolves with its code. */
    stop: (): Promise<number | null> => signal('SIGTERM'),
  }
}

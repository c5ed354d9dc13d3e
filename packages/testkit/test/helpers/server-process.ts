import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import {
  builtCliIsCurrent,
  SERVER_CLI,
  SERVER_CLI_FROM_SOURCES,
  SERVER_DIR,
} from '../../../server/test/helpers/cli-command.js'

/** A free loopback port, so a restarted server can come back on the same one. */
export { freePort } from '../../../server/test/helpers/free-port.js'

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
  const useSources = options.fromSources === 'if-stale' && !builtCliIsCurrent()
  if (!useSources && !existsSync(SERVER_CLI))
    throw new Error(`${SERVER_CLI} is missing: run \`npm run build\` (npm test does) first`)
  const entry = useSources ? SERVER_CLI_FROM_SOURCES : [SERVER_CLI]
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

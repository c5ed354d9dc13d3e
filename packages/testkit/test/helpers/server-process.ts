import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'

const CLI = fileURLToPath(new URL('../../../server/dist/cli.js', import.meta.url))

/** A free loopback port, so a restarted server can come back on the same one. */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** `ticks-server` as a child process on SQLite in `dataDir`, which we can SIGKILL and restart. */
export function serverProcess(options: { port: number; dataDir: string }) {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` (npm test does) first`)
  let child: ChildProcess | undefined
  return {
    async start(): Promise<void> {
      const started = spawn(
        process.execPath,
        [
          CLI,
          '--port',
          String(options.port),
          '--host',
          '127.0.0.1',
          '--data',
          options.dataDir,
          '--store',
          'sqlite',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      )
      child = started
      let output = ''
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`server did not start: ${output}`)), 15_000)
        const onData = (chunk: Buffer) => {
          output += chunk.toString()
          if (output.includes('listening on')) {
            clearTimeout(timer)
            resolve()
          }
        }
        started.stdout!.on('data', onData)
        started.stderr!.on('data', (chunk: Buffer) => {
          output += chunk.toString()
        })
        started.once('exit', (code) => {
          clearTimeout(timer)
          reject(new Error(`server exited with ${code}: ${output}`))
        })
      })
    },
    /** kill -9: no flush, no close frames; whatever was not committed is gone. */
    async kill(): Promise<void> {
      const running = child
      child = undefined
      if (!running || running.exitCode !== null) return
      const exited = new Promise((resolve) => running.once('exit', resolve))
      running.kill('SIGKILL')
      await exited
    },
  }
}

import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './free-port.js'
import { pollUntil } from './until.js'

/** A real redis-server (Debian's package) on 127.0.0.1, private to one test suite. */
export interface TestRedis {
  url: string
  port: number
  /** Kill it (SIGKILL: a crash, nothing flushed). */
  stop(): Promise<void>
  /** Start it again on the same port. */
  start(): Promise<void>
  close(): Promise<void>
}

export async function startRedis(): Promise<TestRedis> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'ticks-redis-'))
  let child: ChildProcess | undefined

  const start = async () => {
    const process_ = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    child = process_
    let output = ''
    process_.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    await pollUntil(
      () => output.includes('Ready to accept connections'),
      10_000,
      `redis-server on ${port}: ${output}`,
      20,
    )
  }
  const stop = async () => {
    const running = child
    child = undefined
    if (!running || running.exitCode !== null) return
    const exited = new Promise((resolve) => running.once('exit', resolve))
    running.kill('SIGKILL')
    await exited
  }
  await start()
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    start,
    async close() {
      await stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

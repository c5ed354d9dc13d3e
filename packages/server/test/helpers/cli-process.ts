import { type ChildProcess, spawn } from 'node:child_process'
import { builtCliIsCurrent, SERVER_CLI, SERVER_CLI_FROM_SOURCES, SERVER_DIR } from './cli-command.js'

/** The built CLI when dist is current (starts in ~1 s; `npm test` builds first), else the sources. */
export const serverCommand = (): string[] => (builtCliIsCurrent() ? [SERVER_CLI] : SERVER_CLI_FROM_SOURCES)

export interface CliServer {
  process: ChildProcess
  url: string
  /** Everything printed so far, stdout and stderr. */
  output(): string
  /** Resolves with the exit code (or the signal's name) and when it came. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>
}

const running = new Set<ChildProcess>()

/** Kill every child still running (an afterAll hook of the test files that use `startCli`). */
export function killCliServers(): void {
  for (const child of running) child.kill('SIGKILL')
}

/** `ticks-server` as a child process on 127.0.0.1 and a free port; resolves once it listens. */
export async function startCli(args: string[], env: Record<string, string> = {}): Promise<CliServer> {
  const cli = spawnCli(['--port', '0', ...args], env)
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${cli.output()}`)), 20_000)
    const check = setInterval(() => {
      const match = /listening on (http:\/\/[\d.:]+)/.exec(cli.output())
      if (match) {
        clearTimeout(timer)
        clearInterval(check)
        resolve(match[1]!)
      }
    }, 20)
    void cli.exited.then(() => {
      clearTimeout(timer)
      clearInterval(check)
      reject(new Error(`server exited early:\n${cli.output()}`))
    })
  })
  return { ...cli, url }
}

/** `ticks-server` as a child process on 127.0.0.1, not waiting for anything. */
export function spawnCli(args: string[], env: Record<string, string> = {}): Omit<CliServer, 'url'> {
  const child = spawn(process.execPath, [...serverCommand(), '--host', '127.0.0.1', ...args], {
    cwd: SERVER_DIR,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  })
  running.add(child)
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.on('exit', (code, signal) => {
      running.delete(child)
      resolve({ code, signal, at: Date.now() })
    }),
  )
  return { process: child, output: () => output, exited }
}

/**
 * Run the CLI from its sources until it exits by itself (a refusal, --help, a subcommand), killed
 * after 20 s; resolves with its exit code and what it printed.
 */
export function runCliToExit(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [...SERVER_CLI_FROM_SOURCES, ...args], {
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
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    }),
  )
}

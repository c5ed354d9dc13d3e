import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { builtCliIsCurrent, SERVER_DIR } from './helpers/cli-command.js'
import { freePort } from './helpers/free-port.js'
import { until } from './helpers/server.js'

/**
 * `npm run cluster` (scripts/cluster.ts) as a user runs it, minus the build: three nodes over a
 * private PostgreSQL and Redis that answer as one, and a SIGTERM that leaves nothing behind.
 */

const CLUSTER_SCRIPT = join(SERVER_DIR, 'scripts/cluster.ts')

let script: ChildProcess | undefined
afterAll(async () => {
  // Only when the test failed before its own SIGTERM: the script still stops what it started.
  if (!script || script.exitCode !== null || script.signalCode !== null) return
  const exited = new Promise((resolve) => script!.once('exit', resolve))
  script.kill('SIGTERM')
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 20_000))])
}, 30_000)

/** Whether a process runs (a zombie, which nothing reaps in some containers, does not). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}

/** Processes whose command line names `text` (PostgreSQL's -D, Redis's --dir, a node's --data). */
function processesNaming(text: string): string[] {
  const found: string[] = []
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')
      if (command.includes(text) && alive(Number(pid))) found.push(`${pid} ${command}`)
    } catch {
      // gone meanwhile
    }
  }
  return found
}

async function rest(url: string, token: string | undefined, body?: unknown) {
  const response = await fetch(url, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      ...(token && { authorization: `Bearer ${token}` }),
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  })
  // biome-ignore lint/suspicious/noExplicitAny: REST bodies, checked by the assertions
  return { status: response.status, body: (await response.json()) as any }
}

describe('npm run cluster', () => {
  it('starts three nodes that answer as one, and a SIGTERM stops them, Redis and PostgreSQL and removes its temp dir', {
    timeout: 60_000,
  }, async () => {
    const ports = [await freePort(), await freePort(), await freePort()]
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        CLUSTER_SCRIPT,
        '--ports',
        ports.join(','),
        '--log-level',
        'warn',
        // `npm test` builds first; a run of this file alone may come after an edit of src.
        ...(builtCliIsCurrent() ? [] : ['--from-sources']),
      ],
      { cwd: SERVER_DIR, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    script = child
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    )
    await until(
      () => /temp dir\s+\S+/.test(output) || child.exitCode !== null,
      45_000,
      'the cluster to print its URLs',
    )
    expect(child.exitCode, output).toBeNull()

    const nodes = Object.fromEntries(
      [...output.matchAll(/node ([a-c])\s+(http:\/\/\S+)\s+pid (\d+)/g)].map(([, id, url, pid]) => [
        id!,
        { url: url!, pid: Number(pid) },
      ]),
    )
    expect(Object.keys(nodes).sort()).toEqual(['a', 'b', 'c'])
    expect(Object.values(nodes).map((node) => node.url)).toEqual(
      ports.map((port) => `http://127.0.0.1:${port}`),
    )
    const dir = /temp dir\s+(\S+)/.exec(output)![1]!
    const servicePids = [/PostgreSQL\s+\S+\s+pid (\d+)/, /Redis\s+\S+\s+pid (\d+)/].map((pattern) =>
      Number(pattern.exec(output)?.[1]),
    )
    const pids = [...Object.values(nodes).map((node) => node.pid), ...servicePids]
    expect(
      pids.every((pid) => Number.isInteger(pid) && alive(pid)),
      output,
    ).toBe(true)
    expect(existsSync(dir)).toBe(true)

    // A session from node a, a conversation on a, a message through b, read back through c.
    const [a, b, c] = [nodes.a!.url, nodes.b!.url, nodes.c!.url]
    const session = await rest(`${a}/api/session`, undefined, { userId: 'alice' })
    expect(session.status).toBe(200)
    const alice = session.body.token as string
    const created = await rest(`${a}/api/conversations`, alice, { title: 'Three nodes', members: ['bob'] })
    expect(created.status).toBe(201)
    const id = created.body.id as string
    const sent = await rest(`${b}/api/conversations/${id}/messages`, alice, { text: 'sent through b' })
    expect(sent.status, output).toBe(201)
    expect(sent.body).toMatchObject({ text: 'sent through b', seq: 1, status: 'sent' })
    const bob = (await rest(`${c}/api/session`, undefined, { userId: 'bob' })).body.token as string
    const read = await rest(`${c}/api/conversations/${id}`, bob)
    expect(read.status).toBe(200)
    expect(read.body.messages).toMatchObject([{ id: sent.body.id, text: 'sent through b', seq: 1 }])

    child.kill('SIGTERM')
    expect(await exited, output).toEqual({ code: 0, signal: null })
    expect(output).toContain(`removed ${dir}`)
    expect(existsSync(dir)).toBe(false)
    expect(pids.filter(alive)).toEqual([])
    expect(processesNaming(dir)).toEqual([])
  })
})

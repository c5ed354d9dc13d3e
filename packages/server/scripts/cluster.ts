import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import {
  freePort,
  type LocalPostgres,
  type LocalRedis,
  startLocalPostgres,
  startLocalRedis,
} from './local-services.js'

/**
 * `npm run cluster`: several `ticks-server` nodes on 127.0.0.1 over a private PostgreSQL and
 * Redis, everything in one temp dir that goes away on SIGINT / SIGTERM. For trying several nodes
 * locally: the nodes hand out tokens to anyone (--dev-sessions), so they only ever listen on
 * loopback. No system service, system data dir or fixed port of PostgreSQL or Redis is touched.
 */

const HELP = `npm run cluster [-- options]   (or: node --import tsx packages/server/scripts/cluster.ts)

Three ticks-server nodes (a, b, c) on 127.0.0.1 over one PostgreSQL and one Redis of their own, in
a temp dir; each serves the web app (npm run cluster builds it first). Ctrl-C stops it all and
removes the temp dir.

  --ports <a,b,c>        one node per port, named a, b, c, … (default 8081,8082,8083)
  --log-level <level>    the nodes' --log-level (default info)
  --from-sources         run the nodes from src through tsx instead of dist (no build needed; slower)
  -h, --help`

const SERVER_DIR = fileURLToPath(new URL('..', import.meta.url))
const WEB_APP = fileURLToPath(new URL('../../../apps/web/dist/index.html', import.meta.url))
const NODE_NAMES = 'abcdefghijklmnopqrstuvwxyz'
/** Past the nodes' own --shutdown-timeout (10 s): a node still running then is killed. */
const NODE_STOP_MS = 15_000

interface Node {
  id: string
  url: string
  process: ChildProcess
  exited: Promise<void>
}

/** What runs now: everything in here is stopped, in reverse order, whatever happened before. */
interface Running {
  dir?: string
  postgres?: LocalPostgres
  redis?: LocalRedis
  nodes: Node[]
}

function fail(message: string): never {
  console.error(`cluster: ${message}\n\n${HELP}`)
  process.exit(2)
}

let values: { ports?: string; 'log-level'?: string; 'from-sources'?: boolean; help?: boolean }
try {
  ;({ values } = parseArgs({
    options: {
      ports: { type: 'string' },
      'log-level': { type: 'string' },
      'from-sources': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  }))
} catch (error) {
  fail((error as Error).message)
}
if (values.help) {
  console.log(HELP)
  process.exit(0)
}
const ports = (values.ports ?? '8081,8082,8083').split(',').map((text) => {
  const port = Number(text.trim())
  if (!/^\d+$/.test(text.trim()) || port < 1 || port > 65535) fail(`invalid port in --ports: ${text}`)
  return port
})
if (new Set(ports).size !== ports.length || ports.length > NODE_NAMES.length)
  fail(`--ports needs 1 to ${NODE_NAMES.length} different ports`)
const logLevel = values['log-level'] ?? 'info'
const serverCommand = values['from-sources']
  ? ['--conditions=source', '--import', 'tsx', join(SERVER_DIR, 'src/cli.ts')]
  : [join(SERVER_DIR, 'dist/cli.js')]
if (!existsSync(serverCommand.at(-1)!))
  fail(`no ${serverCommand.at(-1)}: run npm run build first (npm run cluster does), or give --from-sources`)

const running: Running = { nodes: [] }
let stopping = false
let stopSignal: NodeJS.Signals | undefined
let wakeOnSignal = () => {}
const signalled = new Promise<void>((resolve) => {
  wakeOnSignal = resolve
})
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    // A second Ctrl-C does not cut the stop short: PostgreSQL and Redis would outlive the script.
    if (stopSignal) {
      console.log(`cluster: ${signal}: still stopping, in order`)
      return
    }
    stopSignal = signal
    console.log(`cluster: ${signal}: stopping the nodes, then Redis and PostgreSQL`)
    wakeOnSignal()
  })
}
/** Between start-up steps: a signal ends the start there (the children it started are stopped). */
const startGoesOn = () => stopSignal === undefined

try {
  await start(running)
  if (startGoesOn()) {
    printSummary(running)
    await signalled
  }
} catch (error) {
  console.error(`cluster: ${(error as Error).message}`)
  process.exitCode = 1
} finally {
  await stopAll(running)
}

async function start(cluster: Running): Promise<void> {
  // One temp dir holds everything, so one rm removes everything: PostgreSQL's cluster and socket,
  // Redis's working dir, the nodes' data dirs (empty over PostgreSQL, but never ./data).
  const dir = mkdtempSync(join(tmpdir(), 'ticks-cluster-'))
  cluster.dir = dir
  // As root, PostgreSQL runs as `postgres` (initdb refuses root), which must reach its subdir.
  if (process.getuid?.() === 0) chmodSync(dir, 0o711)
  const postgresDir = join(dir, 'postgres')
  const redisDir = join(dir, 'redis')
  mkdirSync(postgresDir)
  mkdirSync(redisDir)
  const [postgresPort, redisPort] = [await freePort(), await freePort()]
  console.log(`cluster: starting PostgreSQL and Redis in ${dir}`)
  const [postgres, redis] = await Promise.allSettled([
    startLocalPostgres(postgresDir, postgresPort, { detached: true }),
    startLocalRedis(redisDir, redisPort, { detached: true }),
  ])
  if (postgres.status === 'fulfilled') cluster.postgres = postgres.value
  if (redis.status === 'fulfilled') cluster.redis = redis.value
  for (const result of [postgres, redis]) if (result.status === 'rejected') throw result.reason
  if (!startGoesOn()) return
  const database = await cluster.postgres!.createDatabase('ticks')

  // One secret for all: a token any node hands out works on every node. Given through the
  // environment, not argv, which every user of the machine can read in `ps`.
  const secret = randomBytes(32).toString('base64')
  console.log(`cluster: starting ${ports.length} nodes`)
  cluster.nodes = ports.map((port, index) => {
    const id = NODE_NAMES[index]!
    const data = join(dir, `node-${id}`)
    return startNode(
      id,
      port,
      [
        ...['--store', database, '--redis', cluster.redis!.url, '--node-id', id],
        ...['--dev-sessions', '--data', data, '--log-level', logLevel],
      ],
      { TICKS_JWT_SECRET: secret },
    )
  })
  await Promise.all(cluster.nodes.map((node) => ready(node)))
}

function startNode(id: string, port: number, args: string[], env: Record<string, string>): Node {
  const child = spawn(
    process.execPath,
    [...serverCommand, '--host', '127.0.0.1', '--port', String(port), ...args],
    // Its own process group: a Ctrl-C reaches this script only, which stops the nodes first.
    { cwd: SERVER_DIR, stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, ...env } },
  )
  prefixLines(child.stdout!, process.stdout, `[${id}] `)
  prefixLines(child.stderr!, process.stderr, `[${id}] `)
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      if (!stopping) console.log(`cluster: node ${id} exited (${signal ?? `code ${code}`})`)
      resolve()
    }),
  )
  return { id, url: `http://127.0.0.1:${port}`, process: child, exited }
}

/** Resolves once the node answers /readyz (it listens and reaches PostgreSQL). */
async function ready(node: Node): Promise<void> {
  let gone = false
  void node.exited.then(() => {
    gone = true
  })
  const deadline = Date.now() + 60_000
  while (startGoesOn()) {
    if (gone) throw new Error(`node ${node.id} exited before it was ready (its output is above)`)
    if (Date.now() > deadline) throw new Error(`node ${node.id} not ready within 60 s`)
    // Bounded: whatever else may hold the port could accept and never answer.
    const response = await fetch(`${node.url}/readyz`, { signal: AbortSignal.timeout(1000) }).catch(
      () => undefined,
    )
    if (response?.ok) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

function printSummary(cluster: Running): void {
  const lines = [
    '',
    `Ticks cluster: ${cluster.nodes.length} nodes over one PostgreSQL and one Redis`,
    ...cluster.nodes.map((node) => `  node ${node.id}       ${node.url}  pid ${node.process.pid}`),
    `  PostgreSQL   postgres://postgres@127.0.0.1:${cluster.postgres!.port}/ticks  pid ${cluster.postgres!.pid}`,
    `  Redis        ${cluster.redis!.url}  pid ${cluster.redis!.pid}`,
    `  temp dir     ${cluster.dir}`,
    existsSync(WEB_APP)
      ? 'Open any node and sign in by name: the nodes run with --dev-sessions, so anyone who reaches'
      : 'No built web app (npm run build): the nodes serve the API only. They run with --dev-sessions:',
    '127.0.0.1 can get a token for any user (POST /api/session). For trying things locally only.',
    'Kill a node (kill -9 <pid>) and its conversations get another sequencer within the lease (5 s).',
    `Stop: Ctrl-C, or kill ${process.pid} (SIGTERM): the nodes, Redis and PostgreSQL stop, the temp dir goes.`,
    '',
  ]
  console.log(lines.join('\n'))
}

/** Stop what runs, nodes first (they flush to PostgreSQL), then remove the temp dir. */
async function stopAll(cluster: Running): Promise<void> {
  stopping = true
  await Promise.all(cluster.nodes.map(stopNode))
  const problems: string[] = []
  await cluster.redis?.stop('SIGTERM').catch((error: Error) => problems.push(error.message))
  try {
    await cluster.postgres?.stop('fast')
  } catch (error) {
    problems.push((error as Error).message)
    await cluster.postgres?.stop('immediate').catch((again: Error) => problems.push(again.message))
  }
  if (cluster.dir) rmSync(cluster.dir, { recursive: true, force: true })
  for (const problem of problems) console.error(`cluster: while stopping: ${problem}`)
  if (problems.length > 0) process.exitCode = 1
  console.log(cluster.dir ? `cluster: stopped; removed ${cluster.dir}` : 'cluster: stopped')
}

async function stopNode(node: Node): Promise<void> {
  const child = node.process
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  const timer = setTimeout(() => {
    console.error(`cluster: node ${node.id} still running after ${NODE_STOP_MS / 1000} s: killing it`)
    child.kill('SIGKILL')
  }, NODE_STOP_MS)
  await node.exited
  clearTimeout(timer)
}

/** Copy a child's output line by line, each line tagged with its node. */
function prefixLines(from: NodeJS.ReadableStream, to: NodeJS.WritableStream, prefix: string): void {
  let partial = ''
  from.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n')
    partial = lines.pop()!
    for (const line of lines) to.write(`${prefix}${line}\n`)
  })
  from.on('end', () => {
    if (partial) to.write(`${prefix}${partial}\n`)
  })
}

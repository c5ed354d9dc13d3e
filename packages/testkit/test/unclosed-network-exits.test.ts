import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'

const TESTKIT = fileURLToPath(new URL('../src/index.ts', import.meta.url))

/**
 * A test that throws before `network.close()` must not keep Node alive: the simulator runs on
 * simulated time, so it may start no real timer that holds the event loop (the room's commit
 * timer, the awareness interval).
 */
it('a network nobody closed lets Node exit', async () => {
  const script = `
    import { createNetwork } from ${JSON.stringify(TESTKIT)}
    for (const end of ['run', 'settle']) {
      const network = await createNetwork({ seed: 1 })
      const alice = network.replica('alice')
      network.replica('bob')
      await network.settle()
      alice.send('hello')
      if (end === 'run') await network.run(1) // a commit is due but has not run
      else await network.settle()
    }
    console.log('done, not closing')
  `
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', '--input-type=module', '--eval', script],
    { cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let output = ''
  child.stdout.on('data', (chunk) => (output += chunk))
  child.stderr.on('data', (chunk) => (output += chunk))
  const exited = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 15_000)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve(true)
    })
  })
  if (!exited) child.kill('SIGKILL')
  expect(output).toContain('done, not closing')
  expect(exited).toBe(true)
  expect(child.exitCode).toBe(0)
}, 30_000)

import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** How tests (here and in @ticks/testkit) run `ticks-server` as a child process. */

/** The server package, where the CLI runs (its `./data` default is relative to it). */
export const SERVER_DIR = fileURLToPath(new URL('../..', import.meta.url))
const CORE_DIR = join(SERVER_DIR, '../core')

/** The built CLI (`npm run build`; `npm test` builds first): starts in about a second. */
export const SERVER_CLI = join(SERVER_DIR, 'dist/cli.js')

/** The CLI from its sources through tsx: always current, slower to start. */
export const SERVER_CLI_FROM_SOURCES = [
  '--conditions=source',
  '--import',
  'tsx',
  join(SERVER_DIR, 'src/cli.ts'),
]

/** Whether `dist` of the server and of core is at least as new as its sources (tsc -b touches its build info). */
export function builtCliIsCurrent(): boolean {
  try {
    return (
      existsSync(SERVER_CLI) &&
      existsSync(join(CORE_DIR, 'dist/index.js')) &&
      [SERVER_DIR, CORE_DIR].every(
        (dir) => statSync(join(dir, 'tsconfig.tsbuildinfo')).mtimeMs >= newest(join(dir, 'src')),
      )
    )
  } catch {
    return false
  }
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

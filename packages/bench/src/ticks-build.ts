import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The packages a Ticks server process loads from their dist (see `startHosted`). */
const SERVED_PACKAGES = ['core', 'server']

const newest = (dir: string): number =>
  readdirSync(dir, { withFileTypes: true }).reduce((latest, entry) => {
    const path = join(dir, entry.name)
    return Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs)
  }, 0)

/**
 * Why Ticks cannot run as built, if it cannot: a dist older than its sources would measure
 * yesterday's server. `npm run bench` builds first; `npm run bench -w packages/bench` does not.
 */
export function staleBuild(): string | undefined {
  const packages = fileURLToPath(new URL('../../', import.meta.url))
  for (const name of SERVED_PACKAGES) {
    const dist = join(packages, name, 'dist')
    let built: number
    try {
      built = newest(dist)
    } catch {
      return `packages/${name}/dist is missing: run npm run build (or BENCH_SOURCE=1 to run the sources)`
    }
    if (newest(join(packages, name, 'src')) > built)
      return `packages/${name}/dist is older than its sources: run npm run build (or BENCH_SOURCE=1 to run the sources)`
  }
  return undefined
}

import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const appDir = fileURLToPath(new URL('..', import.meta.url))

function newestMtime(path: string): number {
  const stat = statSync(path)
  if (!stat.isDirectory()) return stat.mtimeMs
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newestMtime(join(path, name))))
}

/**
 * The browser test drives the built app (service worker and all), so build it when `dist` is missing
 * or older than the sources. The root `npm test` has just built it, so there this is a no-op.
 */
export default async function setup(): Promise<void> {
  const built = join(appDir, 'dist', 'index.html')
  const sources = ['src', 'public', 'index.html', 'vite.config.ts'].map((name) => join(appDir, name))
  if (existsSync(built) && statSync(built).mtimeMs >= Math.max(...sources.map(newestMtime))) return
  const { build } = await import('vite')
  await build({ root: appDir, logLevel: 'warn', configFile: join(appDir, 'vite.config.ts') })
}

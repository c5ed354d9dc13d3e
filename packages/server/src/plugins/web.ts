import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'

/** apps/web/dist of this repository, from src/plugins or dist/plugins alike. */
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../../../../apps/web/dist', import.meta.url))

const API_PREFIXES = ['/api/', '/sync/', '/metrics', '/healthz', '/readyz']

/**
 * Serve the built web app when it exists, with an SPA fallback to index.html for GETs that are no
 * API; without a build, unknown paths get the JSON 404.
 */
export async function webPlugin(app: FastifyInstance, options: { root: string | false }): Promise<void> {
  const root = options.root
  const hasApp = root !== false && existsSync(join(root, 'index.html'))
  if (hasApp) await app.register(fastifyStatic, { root, wildcard: false, index: 'index.html' })
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '/'
    if (hasApp && request.method === 'GET' && !API_PREFIXES.some((prefix) => path.startsWith(prefix))) {
      return reply.sendFile('index.html')
    }
    return reply
      .code(404)
      .send({ error: { code: 'not-found', message: `no route ${request.method} ${path}` } })
  })
}

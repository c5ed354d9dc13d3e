import { defineProject } from 'vitest/config'

// The browser end-to-end test runs in Node with the server in-process, so it must not resolve
// packages with the `browser` condition the component tests need (`ws` would become its stub).
export default defineProject({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    name: 'web-e2e',
    environment: 'node',
    include: ['test/e2e.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
  },
})

import solid from 'vite-plugin-solid'
import { defineProject } from 'vitest/config'

export default defineProject({
  plugins: [solid()],
  // solid-js must resolve to its browser build here: its `node` export is the server renderer,
  // which never updates the DOM.
  resolve: { conditions: ['source', 'development', 'browser'] },
  test: {
    name: 'solid',
    environment: 'jsdom',
    include: ['test/**/*.test.tsx', 'test/**/*.test.ts'],
    testTimeout: 20_000,
  },
})

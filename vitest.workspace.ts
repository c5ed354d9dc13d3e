// The one list of test projects. Vitest 4 no longer reads this file by itself, so the root
// vitest.config.ts imports it as `test.projects`: a project removed here stops running.
export default [
  'packages/core',
  'packages/server',
  'packages/client',
  'packages/solid',
  'packages/testkit',
  'apps/web',
  // The browser end-to-end test (real Chromium): its own config, as it resolves packages for Node.
  'apps/web/vitest.e2e.config.ts',
]

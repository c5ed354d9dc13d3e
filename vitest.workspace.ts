// The one list of test projects. Vitest 4 no longer reads this file by itself, so the root
// vitest.config.ts imports it as `test.projects`: a project removed here stops running.
export default [
  'packages/core',
  'packages/server',
  'packages/client',
  'packages/solid',
  'packages/testkit',
  'apps/web',
]

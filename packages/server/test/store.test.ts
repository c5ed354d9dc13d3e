import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MemoryStore, SqliteStore } from '../src/index.js'
import { runStoreContract } from './store-contract.js'

runStoreContract('memory', async () => ({ store: new MemoryStore() }))

runStoreContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ticks-store-'))
  const file = join(dir, 'ticks.sqlite')
  let current = new SqliteStore(file)
  return {
    store: current,
    reopen: async () => {
      await current.close()
      current = new SqliteStore(file)
      return current
    },
    teardown: async () => {
      await current.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
})

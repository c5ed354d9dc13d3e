import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
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

describe('SqliteStore on its worker thread', () => {
  it('rejects every call, pending or new, once its worker is gone (a room then poisons instead of hanging)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ticks-store-'))
    const store = new SqliteStore(join(dir, 'ticks.sqlite'))
    try {
      await store.append('doc', [new Uint8Array([1, 2, 3])])
      const worker = (store as unknown as { worker: Worker }).worker
      const pending = store.append('doc', [new Uint8Array([4])])
      await worker.terminate()
      await expect(pending).rejects.toThrow(/SQLite worker exited/)
      await expect(store.load('doc')).rejects.toThrow(/SQLite worker exited/)
      await expect(store.append('doc', [new Uint8Array([5])])).rejects.toThrow(/SQLite worker exited/)
      // What was committed before the worker died is on disk.
      const reopened = new SqliteStore(join(dir, 'ticks.sqlite'))
      expect(await reopened.load('doc')).toEqual([{ entry: 1, update: new Uint8Array([1, 2, 3]) }])
      await reopened.close()
    } finally {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('fails at construction when the database cannot be opened', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ticks-store-'))
    try {
      // A data dir that is a file: the path cannot be created.
      writeFileSync(join(dir, 'data'), '')
      expect(() => new SqliteStore(join(dir, 'data', 'ticks.sqlite'))).toThrow(/EEXIST|ENOTDIR/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

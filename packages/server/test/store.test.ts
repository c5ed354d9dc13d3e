import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Worker } from 'node:worker_threads'
import Database from 'better-sqlite3'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  MemoryStore,
  POSTGRES_SCHEMA_VERSION,
  PostgresStore,
  SNAPSHOT_ENTRY,
  SqliteStore,
} from '../src/index.js'
import { freePort } from './helpers/free-port.js'
import { startPostgres, type TestPostgres } from './helpers/postgres.js'
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

  it('opens a file written before leases and loadSince: its snapshot counts as folding in everything so far', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ticks-store-'))
    const file = join(dir, 'ticks.sqlite')
    const old = new Database(file)
    old.exec(`
      CREATE TABLE documents (id TEXT PRIMARY KEY, snapshot BLOB, entry_mark INTEGER NOT NULL DEFAULT 0,
        summary TEXT, updated_at INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE updates (doc_id TEXT NOT NULL, entry INTEGER NOT NULL, data BLOB NOT NULL,
        PRIMARY KEY (doc_id, entry)) WITHOUT ROWID;
      INSERT INTO documents (id, snapshot, entry_mark) VALUES ('d', x'09', 5);
      INSERT INTO updates VALUES ('d', 5, x'05');
    `)
    old.close()
    const store = new SqliteStore(file)
    try {
      const everything = [
        { entry: SNAPSHOT_ENTRY, update: new Uint8Array([9]) },
        { entry: 5, update: new Uint8Array([5]) },
      ]
      expect(await store.load('d')).toEqual(everything)
      expect(await store.loadSince('d', 4)).toEqual(everything)
      expect(await store.loadSince('d', 5)).toEqual([])
      expect(await store.acquireLease('d', 'node-a', 60_000)).toMatchObject({ epoch: 1 })
      expect((await store.append('d', [new Uint8Array([6])])).lastEntry).toBe(6)
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

describe('PostgreSQL (a real server in a temp dir, per suite)', () => {
  let postgres: TestPostgres
  beforeAll(async () => {
    postgres = await startPostgres()
  }, 120_000)
  afterAll(async () => {
    await postgres?.close()
  }, 60_000)

  // A fresh database per case; `peer` is a second node: its own pool on the same database.
  runStoreContract('postgres', async () => {
    const connectionString = await postgres.createDatabase()
    let current = await PostgresStore.open({ connectionString })
    return {
      store: current,
      reopen: async () => {
        await current.close()
        current = await PostgresStore.open({ connectionString })
        return current
      },
      peer: () => PostgresStore.open({ connectionString, poolSize: 2 }),
      teardown: () => current.close(),
    }
  })

  describe('PostgresStore schema and connections', () => {
    const schemaVersions = async (connectionString: string) => {
      const client = new pg.Client({ connectionString })
      await client.connect()
      try {
        return (
          await client.query<{ version: number }>('SELECT version FROM schema_version ORDER BY version')
        ).rows.map(({ version }) => version)
      } finally {
        await client.end()
      }
    }

    it('creates the schema once, even with several nodes starting at the same time, and records its version', async () => {
      const connectionString = await postgres.createDatabase()
      const stores = await Promise.all([1, 2, 3].map(() => PostgresStore.open({ connectionString })))
      await stores[0]!.append('d', [new Uint8Array([1])])
      expect(await stores[2]!.load('d')).toEqual([{ entry: 1, update: new Uint8Array([1]) }])
      await Promise.all(stores.map((store) => store.close()))
      const again = await PostgresStore.open({ connectionString })
      await again.close()
      // Every migration ran once, in order.
      expect(await schemaVersions(connectionString)).toEqual(
        Array.from({ length: POSTGRES_SCHEMA_VERSION }, (_, i) => i + 1),
      )
    })

    it('migrates a database an older version wrote, keeping its data', async () => {
      const connectionString = await postgres.createDatabase()
      const first = await PostgresStore.open({ connectionString })
      await first.append('d', [new Uint8Array([1])])
      await first.close()
      // Back to version 1, as the first release with PostgreSQL left it: no claims, no history,
      // no announcements.
      const client = new pg.Client({ connectionString })
      await client.connect()
      await client.query('DROP TABLE claims')
      await client.query('DROP TABLE history')
      await client.query('DROP TABLE announcements')
      await client.query('DELETE FROM schema_version WHERE version > 1')
      await client.end()
      const migrated = await PostgresStore.open({ connectionString })
      const sealed = [{ seq: 1, id: 'a', author: 'alice', text: 'hi', createdAt: 1, to: [] }]
      await migrated.append('d', [new Uint8Array([2])], undefined, {
        claims: [{ key: 'm|a', holder: 'alice' }],
        sealed,
      })
      expect(await migrated.history('d', 2, 10)).toEqual(sealed)
      expect(await migrated.sealedMessages('d', ['a'])).toEqual(sealed)
      const announcement = {
        id: 'p',
        text: 'hello',
        postedBy: 'ops',
        postedAt: 1,
        conversationId: null,
        delivered: 1,
        failed: 0,
      }
      await migrated.recordAnnouncement(announcement)
      expect(await migrated.recentAnnouncements(5)).toEqual([announcement])
      expect(await migrated.load('d')).toEqual([
        { entry: 1, update: new Uint8Array([1]) },
        { entry: 2, update: new Uint8Array([2]) },
      ])
      await migrated.close()
      expect(await schemaVersions(connectionString)).toEqual(
        Array.from({ length: POSTGRES_SCHEMA_VERSION }, (_, i) => i + 1),
      )
    })

    it('refuses a schema newer than it knows, before writing anything', async () => {
      const connectionString = await postgres.createDatabase()
      await (await PostgresStore.open({ connectionString })).close()
      const client = new pg.Client({ connectionString })
      await client.connect()
      await client.query('INSERT INTO schema_version (version) VALUES ($1)', [POSTGRES_SCHEMA_VERSION + 1])
      await client.end()
      await expect(PostgresStore.open({ connectionString })).rejects.toThrow(
        `the database schema is version ${POSTGRES_SCHEMA_VERSION + 1}, newer than this ticks-server knows`,
      )
    })

    it('fails to open at once, with the reason, when nothing listens', async () => {
      const port = await freePort()
      const started = Date.now()
      await expect(
        PostgresStore.open({ connectionString: `postgres://postgres@127.0.0.1:${port}/ticks` }),
      ).rejects.toThrow(/ECONNREFUSED/)
      expect(Date.now() - started).toBeLessThan(5000)
    })

    it('survives PostgreSQL stopping in the middle of its transactions, and writes again once it is back', async () => {
      const connectionString = await postgres.createDatabase()
      const store = await PostgresStore.open({ connectionString, poolSize: 4 })
      try {
        let writing = true
        let failures = 0
        // Appends and reads in flight all the time, so the stop cuts connections that are checked out.
        const load = Array.from({ length: 4 }, async (_, worker) => {
          for (let i = 0; writing; i++) {
            await store
              .append(`doc-${worker}`, [new Uint8Array([i % 256])])
              .then(() => store.loadSince(`doc-${worker}`, 0))
              .catch(() => {
                failures++
                return new Promise((resolve) => setTimeout(resolve, 10))
              })
          }
        })
        await new Promise((resolve) => setTimeout(resolve, 200))
        await postgres.stop()
        await new Promise((resolve) => setTimeout(resolve, 200))
        await postgres.start()
        await new Promise((resolve) => setTimeout(resolve, 300))
        writing = false
        await Promise.all(load)
        expect(failures).toBeGreaterThan(0)
        const { lastEntry } = await store.append('doc-0', [new Uint8Array([255])])
        const entries = (await store.load('doc-0'))!.map(({ entry }) => entry)
        // Whatever was cut off was rolled back whole: the entries that exist are contiguous.
        expect(entries).toEqual(Array.from({ length: entries.length }, (_, i) => i + 1))
        expect(entries.at(-1)).toBe(lastEntry)
      } finally {
        await postgres.start()
        await store.close()
      }
    }, 60_000)

    it('answers again by itself after PostgreSQL restarted under it', async () => {
      const connectionString = await postgres.createDatabase()
      const store = await PostgresStore.open({ connectionString, poolSize: 2 })
      try {
        await store.append('d', [new Uint8Array([1])])
        await postgres.stop()
        await expect(store.load('d')).rejects.toThrow()
        await expect(store.append('d', [new Uint8Array([2])])).rejects.toThrow()
        await postgres.start()
        await store.append('d', [new Uint8Array([3])])
        expect((await store.load('d'))!.map(({ update }) => update[0])).toEqual([1, 3])
      } finally {
        await postgres.start()
        await store.close()
      }
    }, 60_000)
  })
})

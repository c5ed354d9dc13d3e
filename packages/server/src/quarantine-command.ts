import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { describeError, isPostgresUrl, openStore, SQLITE_FILE } from './plugins/store.js'
import { redactUrl } from './redact-url.js'
import { type QuarantinedEntry, SNAPSHOT_ENTRY, type Store } from './store/store.js'

export const QUARANTINE_HELP = `ticks-server quarantine — stored updates set aside because they could not be loaded

  ticks-server quarantine list [--data <dir> | --store postgres://…] [--conversation <id>] [--json]
  ticks-server quarantine drop <id> [--data <dir> | --store postgres://…]

A conversation whose stored log holds an update Yjs cannot load still opens: the update is moved
here (and counted in ticks_quarantined_entries_total). Keep it for a bug report, then drop it.
Safe while the server runs (or, with PostgreSQL, while every node runs).`

export interface QuarantineCommand {
  action: string | undefined
  args: string[]
  data: string
  /** `sqlite` (the default: the file in `data`) or a PostgreSQL URL, as `--store` for the server. */
  store?: string | undefined
  conversation?: string
  json: boolean
}

/** Run `ticks-server quarantine …` on the store the server would open; resolves with the exit code. */
export async function runQuarantineCommand(
  command: QuarantineCommand,
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<number> {
  if (command.action !== 'list' && command.action !== 'drop') {
    err(`${command.action ? `unknown action ${JSON.stringify(command.action)}\n\n` : ''}${QUARANTINE_HELP}`)
    return 2
  }
  const kind = command.store ?? 'sqlite'
  if (kind !== 'sqlite' && !isPostgresUrl(kind)) {
    err(`the quarantine is kept by the sqlite or a postgres:// store, not ${JSON.stringify(kind)}`)
    return 2
  }
  const file = join(resolve(command.data), SQLITE_FILE)
  // Opening SQLite creates the file: a mistyped --data must not leave an empty store behind.
  if (kind === 'sqlite' && !existsSync(file)) {
    err(`no Ticks store at ${file} (give --data)`)
    return 2
  }
  let store: Store
  try {
    store = await openStore(kind, command.data)
  } catch (error) {
    err(
      `cannot open the store${isPostgresUrl(kind) ? ` at ${redactUrl(kind)}` : ''}: ${describeError(error)}`,
    )
    return 1
  }
  try {
    if (command.action === 'list') {
      const entries = await store.listQuarantined(command.conversation)
      if (command.json) out(JSON.stringify(entries.map(describe)))
      else if (entries.length === 0) out('nothing quarantined')
      else for (const entry of entries) out(formatLine(entry))
      return 0
    }
    const [idText, ...rest] = command.args
    const id = Number(idText)
    if (!idText || rest.length > 0 || !Number.isSafeInteger(id) || id <= 0) {
      err(`quarantine drop takes one id (from quarantine list)\n\n${QUARANTINE_HELP}`)
      return 2
    }
    if (!(await store.dropQuarantined(id))) {
      err(`no quarantined entry ${id}`)
      return 1
    }
    out(`dropped quarantined entry ${id}`)
    return 0
  } finally {
    await store.close()
  }
}

function describe(entry: QuarantinedEntry) {
  const { update, ...rest } = entry
  return { ...rest, bytes: update.byteLength, quarantinedAt: new Date(entry.quarantinedAt).toISOString() }
}

function formatLine(entry: QuarantinedEntry): string {
  const where = entry.entry === SNAPSHOT_ENTRY ? 'snapshot' : `entry ${entry.entry}`
  const when = new Date(entry.quarantinedAt).toISOString()
  return `${entry.id}\t${entry.docId}\t${where}\t${entry.update.byteLength} B\t${when}\t${entry.reason}`
}

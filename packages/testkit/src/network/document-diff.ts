import * as Y from 'yjs'

/**
 * Beneath what a replica shows: whether its document holds exactly the server's updates (state
 * vector) and deletions (delete set). A lost deletion does not move the state vector, and a change
 * no view compares (a root nobody reads yet) shows in no view: both show here.
 */
export function documentDiff(name: string, doc: Y.Doc, reference: Y.Doc, referenceName: string): string[] {
  const mine = Y.snapshot(doc)
  const theirs = Y.snapshot(reference)
  if (Y.equalSnapshots(mine, theirs)) return []
  const lines: string[] = []
  const clients = new Set([...mine.sv.keys(), ...theirs.sv.keys()])
  for (const client of [...clients].sort((a, b) => a - b)) {
    const here = mine.sv.get(client) ?? 0
    const there = theirs.sv.get(client) ?? 0
    if (here !== there) {
      lines.push(
        `${name}'s document has client ${client} up to clock ${here}, ${referenceName}'s up to ${there}`,
      )
    }
  }
  if (lines.length === 0) {
    lines.push(
      `${name}'s document has other deletions than ${referenceName}'s (${deletedCount(mine.ds)} deleted, ${referenceName} ${deletedCount(theirs.ds)})`,
    )
  }
  return lines
}

export const sameDocument = (doc: Y.Doc, reference: Y.Doc): boolean =>
  Y.equalSnapshots(Y.snapshot(doc), Y.snapshot(reference))

function deletedCount(deleteSet: Y.Snapshot['ds']): number {
  let count = 0
  for (const items of deleteSet.clients.values()) for (const item of items) count += item.len
  return count
}

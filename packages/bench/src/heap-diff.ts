import { readFileSync } from 'node:fs'

/**
 * Where the heap of a scenario went: two V8 heap snapshots (`BENCH_HEAPSNAPSHOT=dir`, taken at the
 * scenario's memory samples, e.g. before the first idle socket and with all of them open), grouped
 * by what DevTools calls the constructor (an object's class, a closure's function, strings…), the
 * self sizes of the second minus the first, divided by `per` (the sockets).
 *
 *   node --max-old-space-size=4096 --import tsx src/heap-diff.ts before.heapsnapshot after.heapsnapshot 2000
 *
 * A fifth argument, a group's name (`"(array) (object properties)"`), splits that group by owner.
 */

interface Snapshot {
  snapshot: {
    meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[] }
  }
  nodes: number[]
  edges: number[]
  strings: string[]
}

/**
 * Self sizes by group; with `ownersOf`, the nodes of that group are counted under their owner's
 * group instead (`owner → group`): whose property arrays, whose closures.
 */
function groups(file: string, ownersOf?: string): Map<string, { count: number; bytes: number }> {
  const { snapshot, nodes, edges, strings } = JSON.parse(readFileSync(file, 'utf8')) as Snapshot
  const fields = snapshot.meta.node_fields
  const types = snapshot.meta.node_types[0]
  const [type, name, size, edgeCount] = ['type', 'name', 'self_size', 'edge_count'].map((field) =>
    fields.indexOf(field),
  ) as [number, number, number, number]
  const groupOf = (i: number): string => {
    const kind = types[nodes[i + type]!]!
    const label = strings[nodes[i + name]!]!
    return kind === 'object' || kind === 'native'
      ? label
      : kind === 'closure'
        ? `(closure) ${label || '(anonymous)'}`
        : kind === 'hidden' || kind === 'array' || kind === 'synthetic'
          ? `(${kind}) ${label.slice(0, 60)}`
          : `(${kind})`
  }
  const owner = new Map<number, number>()
  if (ownersOf !== undefined) {
    const toNode = snapshot.meta.edge_fields.indexOf('to_node')
    const edgeFields = snapshot.meta.edge_fields.length
    let edge = 0
    for (let i = 0; i < nodes.length; i += fields.length) {
      for (let e = 0; e < nodes[i + edgeCount]!; e++, edge += edgeFields) {
        const target = edges[edge + toNode]!
        if (!owner.has(target) && groupOf(target) === ownersOf && groupOf(i) !== ownersOf)
          owner.set(target, i)
      }
    }
  }
  const byGroup = new Map<string, { count: number; bytes: number }>()
  for (let i = 0; i < nodes.length; i += fields.length) {
    let group = groupOf(i)
    if (ownersOf !== undefined) {
      if (group !== ownersOf) continue
      const by = owner.get(i)
      group = `${by === undefined ? '?' : groupOf(by)} → ${group}`
    }
    const entry = byGroup.get(group) ?? { count: 0, bytes: 0 }
    entry.count++
    entry.bytes += nodes[i + size]!
    byGroup.set(group, entry)
  }
  return byGroup
}

const [beforeFile, afterFile, perArg, topArg, ownersOf] = process.argv.slice(2)
if (!beforeFile || !afterFile) {
  console.error('usage: heap-diff.ts before.heapsnapshot after.heapsnapshot [per] [top] [group: by owner]')
  process.exit(2)
}
const per = Number(perArg ?? 1)
const before = groups(beforeFile, ownersOf)
const after = groups(afterFile, ownersOf)
const rows = [...after].map(([group, { count, bytes }]) => {
  const was = before.get(group) ?? { count: 0, bytes: 0 }
  return { group, count: (count - was.count) / per, bytes: (bytes - was.bytes) / per }
})
rows.sort((a, b) => b.bytes - a.bytes)
const total = rows.reduce((sum, row) => sum + row.bytes, 0)
console.log(`self size after − before, per ${per}: ${(total / 1024).toFixed(2)} KiB in all`)
console.log('| what | count | bytes | share |\n| --- | --- | --- | --- |')
for (const row of rows.slice(0, Number(topArg ?? 40)))
  console.log(
    `| ${row.group.replaceAll('|', '\\|')} | ${row.count.toFixed(2)} | ${row.bytes.toFixed(0)} | ${((100 * row.bytes) / total).toFixed(1)} % |`,
  )

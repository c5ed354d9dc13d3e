import { documentProblem } from '@ticks/core'
import type * as Y from 'yjs'
import { plainClientCopy, type TestServer, tokenFor } from '../helpers/server.js'

/** What the server shows from outside: REST, a stock client's copy, metrics. The checks compare these. */

export interface RestMessage {
  id: string
  author: string
  text: string
  seq?: number
}

export function getConversation(server: TestServer, id: string): Promise<Response> {
  return tokenFor('alice').then((token) =>
    fetch(`${server.url}/api/conversations/${id}`, { headers: { authorization: `Bearer ${token}` } }),
  )
}

export async function restMessages(server: TestServer, id: string): Promise<RestMessage[] | string> {
  const response = await getConversation(server, id)
  if (response.status !== 200)
    return `GET the conversation answered ${response.status}: ${await response.text()}`
  const body = (await response.json()) as { messages: RestMessage[] }
  return body.messages.map(({ id, author, text, seq }) => ({ id, author, text, seq }))
}

/**
 * A plain y-websocket client, no Ticks code: it must sync, encode its state vector and its state,
 * and a new doc must load that state. Returns the loaded copy, or what went wrong.
 */
export async function stockCopy(server: TestServer, id: string): Promise<Y.Doc | string> {
  let copy: Y.Doc
  try {
    copy = await plainClientCopy(server, id, 'bob', 10_000)
  } catch (error) {
    return `a stock client could not sync and re-encode: ${(error as Error).message}`
  }
  const problem = documentProblem(copy)
  return problem ? `the stock client's copy is unusable: ${problem}` : copy
}

/** Every user root's message texts and the order log, read with plain Yjs, as one comparable string. */
export function plainEntries(doc: Y.Doc): string {
  const roots = [...doc.share.keys()].filter((name) => name.startsWith('u:')).sort()
  const messages = roots.map((name) => [
    name,
    [...doc.getMap<{ text?: string }>(name).entries()]
      .filter(([key]) => key.startsWith('m|'))
      .map(([key, value]) => `${key}=${value.text}`)
      .sort(),
  ])
  return JSON.stringify({ messages, order: doc.getArray('server').toArray() })
}

/** A Prometheus sample's value (NaN when absent). */
export function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `))
  return line ? Number(line.slice(name.length + 1)) : Number.NaN
}

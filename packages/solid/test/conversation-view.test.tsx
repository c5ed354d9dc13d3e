import { cleanup, render, screen } from '@solidjs/testing-library'
import { createClient } from '@ticks/client'
import {
  Conversation,
  ConversationIndex,
  type HistoryMessage,
  initConversation,
  sealThrough,
  stampUnsequenced,
} from '@ticks/core'
import { For } from 'solid-js'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { createConversation } from '../src/index.js'

/**
 * Alice's side is a real client conversation kept offline (`connect: false`); the server's part —
 * relaying updates and stamping the order log — is played by a hub doc with core's own sequencer,
 * so the test is about rendering, deterministic and without sockets.
 */
function setup(fetchHistory?: typeof fetch) {
  const id = `c-${Math.random().toString(36).slice(2)}`
  const hub = new Y.Doc({ guid: id })
  initConversation(hub, { title: 'Lunch', members: { alice: 'owner', bob: 'member' } })
  const hubIndex = new ConversationIndex(hub)
  const bobDoc = new Y.Doc({ guid: id })
  const bob = new Conversation(bobDoc, { userId: 'bob', replicaId: 'bob-phone' })
  const client = createClient({
    url: 'ws://127.0.0.1:9',
    token: 't',
    userId: 'alice',
    persistence: 'none',
    connect: false,
    ...(fetchHistory && { fetch: fetchHistory }),
  })
  const exchange = (doc: Y.Doc) => {
    Y.applyUpdate(hub, Y.encodeStateAsUpdate(doc, Y.encodeStateVector(hub)))
    stampUnsequenced(hubIndex)
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(hub, Y.encodeStateVector(doc)))
  }
  return { id, client, bob, exchange, hubIndex }
}

afterEach(cleanup)

describe('createConversation', () => {
  it('shows status changes reactively and re-renders only the bubble that changed', async () => {
    const { id, client, bob, exchange } = setup()
    const rowsCreated = new Map<string, number>()
    const statusRenders = new Map<string, number>()
    const bump = (counts: Map<string, number>, key: string) => counts.set(key, (counts.get(key) ?? 0) + 1)
    let view!: ReturnType<typeof createConversation>

    render(() => {
      view = createConversation(client, id)
      return (
        <ul>
          <For each={view.messages}>
            {(message) => {
              bump(rowsCreated, message.id)
              const status = () => {
                bump(statusRenders, message.id)
                return message.status
              }
              return (
                <li data-testid={message.text}>
                  {message.text}: {status()}
                </li>
              )
            }}
          </For>
        </ul>
      )
    })

    const alice = view.conversation
    exchange(alice.doc) // alice learns the members
    const sent = ['one', 'two', 'three'].map((text) => view.send(text))
    expect(screen.getByTestId('two').textContent).toBe('two: pending')

    exchange(alice.doc) // the hub stamps them
    for (const text of ['one', 'two', 'three'])
      expect(screen.getByTestId(text).textContent).toBe(`${text}: sent`)

    statusRenders.clear()
    exchange(bob.doc)
    bob.markRead(sent[0]!.id) // bob has read only the first
    exchange(bob.doc)
    exchange(alice.doc)

    expect(screen.getByTestId('one').textContent).toBe('one: read')
    expect(screen.getByTestId('two').textContent).toBe('two: sent')
    expect(view.receipts(sent[0]!.id)).toEqual({ bob: 'read' })
    // One status changed, so one bubble's status expression ran again; no row was recreated.
    expect(Object.fromEntries(statusRenders)).toEqual({ [sent[0]!.id]: 1 })
    expect([...rowsCreated.values()]).toEqual([1, 1, 1])
    expect(view.connection).toBe('offline')
    await client.close()
  })

  it("re-renders only the receipts that moved when a recipient's receipt rises", async () => {
    const { id, client, bob, exchange } = setup()
    const receiptRenders = new Map<string, number>()
    let view!: ReturnType<typeof createConversation>
    render(() => {
      view = createConversation(client, id)
      return (
        <For each={view.messages}>
          {(message) => {
            const readBy = () => {
              receiptRenders.set(message.id, (receiptRenders.get(message.id) ?? 0) + 1)
              return view.receipts(message.id).bob
            }
            return <p data-testid={message.text}>{readBy()}</p>
          }}
        </For>
      )
    })
    exchange(view.conversation.doc)
    const sent = ['one', 'two', 'three'].map((text) => view.send(text))
    exchange(view.conversation.doc)
    exchange(bob.doc)
    bob.markRead(sent[0]!.id)
    exchange(bob.doc)
    exchange(view.conversation.doc)
    expect(screen.getByTestId('one').textContent).toBe('read')
    expect(screen.getByTestId('two').textContent).toBe('sent')

    receiptRenders.clear()
    view.conversation.setTitle('Lunch at noon') // a change that moves no receipt
    bob.markRead(sent[1]!.id) // bob reads the second one as well
    exchange(bob.doc)
    exchange(view.conversation.doc)
    expect(screen.getByTestId('two').textContent).toBe('read')
    expect(Object.fromEntries(receiptRenders)).toEqual({ [sent[1]!.id]: 1 })
    await client.close()
  })

  it('shows a refused message as failed and removes it on discard', async () => {
    const { id, client, exchange } = setup()
    let view!: ReturnType<typeof createConversation>
    render(() => {
      view = createConversation(client, id)
      return <For each={view.messages}>{(m) => <p data-testid={m.id}>{m.status}</p>}</For>
    })
    exchange(view.conversation.doc)
    const message = view.send('hello')
    view.conversation.markFailed(message.id, 'not allowed in this conversation')
    expect(screen.getByTestId(message.id).textContent).toBe('failed')
    expect(view.failureReason(message.id)).toBe('not allowed in this conversation')
    view.discard(message.id)
    expect(screen.queryByTestId(message.id)).toBeNull()
    await client.close()
  })

  it('pages older messages in: loadingOlder while it runs, hasOlder false at the beginning', async () => {
    const sealed: HistoryMessage[] = []
    const requests: string[] = []
    const fetchHistory: typeof fetch = async (input) => {
      requests.push(String(input))
      return new Response(JSON.stringify({ messages: sealed, sealedThrough: sealed.length }), {
        headers: { 'content-type': 'application/json' },
      })
    }
    const { id, client, bob, exchange, hubIndex } = setup(fetchHistory)
    exchange(bob.doc)
    for (let i = 1; i <= 8; i++) bob.send(`m${i}`)
    exchange(bob.doc)
    for (const { record, author, seq } of sealThrough(hubIndex, 5)) sealed.push({ ...record, author, seq })
    let view!: ReturnType<typeof createConversation>
    render(() => {
      view = createConversation(client, id)
      return <For each={view.messages}>{(m) => <p>{m.text}</p>}</For>
    })
    exchange(view.conversation.doc)
    expect(view.messages.map((m) => m.text)).toEqual(['m6', 'm7', 'm8'])
    expect(view.hasOlder).toBe(true)

    const loading = view.loadOlder(10)
    expect(view.loadingOlder).toBe(true)
    const added = await loading
    expect(added).toBe(5)
    expect(view.loadingOlder).toBe(false)
    expect(view.hasOlder).toBe(false)
    expect(screen.getAllByText(/^m\d$/).map((p) => p.textContent)).toEqual(
      Array.from({ length: 8 }, (_, i) => `m${i + 1}`),
    )
    expect(requests).toEqual([`http://127.0.0.1:9/api/conversations/${id}/history?before=6&limit=10`])
    await client.close()
  })
})

import { cleanup, render, screen } from '@solidjs/testing-library'
import { createClient } from '@ticks/client'
import { Conversation, initConversation } from '@ticks/core'
import { For } from 'solid-js'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { createConversation } from '../src/index.js'

afterEach(cleanup)

/** Poll the DOM until `check` holds (verification is asynchronous: WebCrypto). */
async function until(check: () => boolean, what: string) {
  const deadline = Date.now() + 5000
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

describe('createConversation: verification', () => {
  it('answers reactively for the messages rendered: own signed ones verified, an unsigned one unverified', async () => {
    const id = `c-${Math.random().toString(36).slice(2)}`
    const client = createClient({
      url: 'ws://127.0.0.1:9',
      token: 't',
      userId: 'alice',
      persistence: 'none',
      connect: false,
    })
    const hub = new Y.Doc({ guid: id })
    initConversation(hub, { title: 'Lunch', members: { alice: 'owner', bob: 'member' } })
    // Bob writes as a stock client would (no signature), long enough ago that none is on its way.
    const bob = new Conversation(hub, { userId: 'bob', now: () => 1_000 })
    bob.send('unsigned, from a stock client')
    const state = createConversation(client, id)
    Y.applyUpdate(state.conversation.doc, Y.encodeStateAsUpdate(hub))
    const sent = state.send('signed by this device')

    render(() => (
      <ul>
        <For each={state.messages}>
          {(message) => <li data-testid={message.id}>{`${message.text}: ${state.verification(message)}`}</li>}
        </For>
      </ul>
    ))
    const row = (messageId: string) => screen.getByTestId(messageId).textContent
    await until(() => row(sent.id) === 'signed by this device: verified', 'the own message verified')
    const bobsId = state.messages.find((message) => message.author === 'bob')!.id
    expect(row(bobsId)).toBe('unsigned, from a stock client: unverified')
    // An edit is signed right after it and answered from that signature (issue 17).
    state.conversation.edit(sent.id, 'edited on this device')
    await until(() => row(sent.id) === 'edited on this device: verified', 'the own edit verified')
    await state.close()
    await client.close()
  })
})

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNetwork, startServer, testClient, until } from './helpers.js'

let server: Awaited<ReturnType<typeof startServer>>
beforeAll(async () => {
  server = await startServer()
})
afterAll(() => server.close())

const view = (messages: ReturnType<import('@ticks/client').LiveConversation['messages']>) =>
  messages.map(({ id, text, edited, deleted, reactions, replyTo }) => ({
    id,
    text,
    edited: edited !== undefined,
    deleted,
    reactions,
    replyTo,
  }))

describe('message actions through the real server (issue 17)', () => {
  it('reply, react, edit and delete, offline on one side, converge after reconnect — and a device that edited a message its other device deleted is not stopped', async () => {
    const aliceToken = await server.token('alice')
    const bobToken = await server.token('bob')
    const id = await server.conversation(aliceToken, ['bob'])
    const laptopNetwork = createNetwork()
    const bob = testClient({ url: server.url, token: bobToken, userId: 'bob' }).open(id)
    const phone = testClient({
      url: server.url,
      token: aliceToken,
      userId: 'alice',
      replicaId: 'alice-phone',
    }).open(id)
    const laptop = testClient({
      url: server.url,
      token: aliceToken,
      userId: 'alice',
      replicaId: 'alice-laptop',
      WebSocket: laptopNetwork.WebSocket,
    }).open(id)
    await Promise.all([bob.whenSynced(), phone.whenSynced(), laptop.whenSynced()])

    const question = phone.send('lunch @bob?')
    const typo = phone.send('see yuo there')
    await until(
      'bob has both',
      () => bob.messages().filter((m) => m.seq).length,
      (n) => n === 2,
    )
    await until(
      'laptop has both',
      () => laptop.messages().filter((m) => m.seq).length,
      (n) => n === 2,
    )
    expect(bob.message(question.id).mentions).toEqual(['bob'])

    laptopNetwork.cut()
    await until(
      'laptop offline',
      () => laptop.connection,
      (state) => state === 'offline',
    )
    // Offline: the laptop fixes the typo; meanwhile the phone deletes it for everyone, and bob
    // answers the question and reacts.
    laptop.edit(typo.id, 'see you there')
    laptop.react(question.id, '🍕')
    phone.deleteForEveryone(typo.id)
    const answer = bob.send('yes!', { replyTo: question.id })
    bob.react(question.id, '👍')
    await until(
      'phone sees bob',
      () => phone.messages().length,
      (n) => n === 3,
    )

    laptopNetwork.restore()
    laptop.reconnect()
    const expected = () => view(phone.messages())
    await until(
      'all three agree',
      () => [view(bob.messages()), view(laptop.messages())].map((v) => JSON.stringify(v)),
      (views) => views.every((v) => v === JSON.stringify(expected())),
    )
    expect(laptop.connection).toBe('synced')
    expect(laptop.stopped).toBeUndefined()
    expect(view(bob.messages())).toEqual([
      {
        id: question.id,
        text: 'lunch @bob?',
        edited: false,
        deleted: undefined,
        reactions: { '👍': ['bob'], '🍕': ['alice'] },
        replyTo: undefined,
      },
      { id: typo.id, text: '', edited: false, deleted: true, reactions: undefined, replyTo: undefined },
      {
        id: answer.id,
        text: 'yes!',
        edited: false,
        deleted: undefined,
        reactions: undefined,
        replyTo: { id: question.id, author: 'alice', text: 'lunch @bob?' },
      },
    ])
    // The laptop's crossing edit left its document (it saw the deletion).
    await until(
      'edit dropped',
      () => laptop.doc.getMap('u:alice').has(`e|${typo.id}`),
      (held) => !held,
    )
  }, 30_000)
})

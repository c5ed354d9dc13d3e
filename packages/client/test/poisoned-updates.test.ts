import 'fake-indexeddb/auto'
import { Conversation, documentProblem, MAX_CLOCK, randomId, updateProblem } from '@ticks/core'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { describe, expect, it } from 'vitest'
// The hostile server speaks `/sync/<id>`: these run on the per-conversation transport (whose
// y-websocket provider the guard wraps); shared-socket.test.ts refuses poison on the shared one.
import { Awareness, encodeAwarenessUpdate } from 'y-protocols/awareness'
import * as syncProtocol from 'y-protocols/sync'
import * as Y from 'yjs'
import { awarenessProblem, syncMessageProblem } from '../src/guarded-sync.js'
import { databaseName, INVALID_PAYLOAD_CODE, type LiveConversation } from '../src/index.js'
import { testClient, until } from './helpers.js'
import {
  awarenessFrame,
  gcUpdate,
  honestConversation,
  startHostileServer,
  syncFrame,
} from './hostile-server.js'

const fromHex = (hex: string) => Uint8Array.from(Buffer.from(hex, 'hex'))

/**
 * Issue 12's second frame: a sync update whose payload holds two GC structs of length 2^56−2^54
 * under a fresh client id (987654321). Applied, the state vector holds a clock lib0 writes but will
 * not read back: the replica, and its IndexedDB copy, could never sync again.
 */
const ISSUE_12_FRAME = fromHex('00021b0102b1d1f9d6030000808080808080806000808080808080806000')
const POISON_CLIENT = 987654321

/** Long enough for several back-off rounds (base 40 ms) had the client kept retrying. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 600))

/** What a replica must still be after refusing: a document every client can encode and read back. */
function expectStorable(doc: Y.Doc) {
  const stateVector = Y.encodeStateVector(doc)
  const clocks = Y.decodeStateVector(stateVector)
  expect(Y.encodeStateVector(clocks)).toEqual(stateVector)
  for (const clock of clocks.values()) expect(clock).toBeLessThanOrEqual(MAX_CLOCK)
  expect(clocks.has(POISON_CLIENT)).toBe(false)
  expect(documentProblem(doc)).toBeUndefined()
}

/** Every entry of a conversation's IndexedDB database, read by another connection. */
const storedUpdates = (name: string) =>
  new Promise<Uint8Array[]>((resolve, reject) => {
    const request = indexedDB.open(name)
    request.onerror = () => reject(request.error)
    request.onsuccess = () => {
      const db = request.result
      const all = db.transaction('updates', 'readonly').objectStore('updates').getAll()
      all.onsuccess = () => {
        db.close()
        resolve(all.result as Uint8Array[])
      }
      all.onerror = () => reject(all.error)
    }
  })

const texts = (conversation: LiveConversation) => conversation.messages().map((m) => m.text)

describe('a hostile server cannot brick a replica', () => {
  it("refuses issue 12's frame on the shared socket too: that conversation stops with 1007, unapplied", async () => {
    const id = randomId()
    const { doc: honest, bobSaid } = honestConversation(id)
    const hostile = await startHostileServer(honest)
    try {
      const client = testClient({ url: hostile.url, token: 'whatever', userId: 'alice', transport: 'shared' })
      const alice = client.open(id)
      expect(await alice.whenSynced()).toBe(true)
      expect(alice.messages().map((m) => m.id)).toEqual([bobSaid])
      alice.send('still mine to send')
      hostile.sendAll(ISSUE_12_FRAME)
      await until(
        'stopped',
        () => alice.stopped?.code,
        (code) => code === INVALID_PAYLOAD_CODE,
      )
      expect(alice.stopped?.reason).toMatch(/^the server sent an update this replica cannot store/)
      expect(alice.connection).toBe('offline')
      expectStorable(alice.doc)
      expect(texts(alice)).toEqual(['hello from bob before the poison', 'still mine to send'])
      // A hostile server must not be able to fail what this replica wrote: still pending.
      expect(alice.messages().at(-1)?.status).toBe('pending')
      await client.close()
    } finally {
      await hostile.close()
    }
  })

  it("refuses issue 12's frame unapplied: stops with 1007, the outbox stays pending, IndexedDB reloads clean", async () => {
    const id = randomId()
    const { doc: honest, bobSaid } = honestConversation(id)
    const hostile = await startHostileServer(honest)
    const options = {
      url: hostile.url,
      token: 'whatever',
      userId: 'alice',
      persistence: 'indexeddb' as const,
      transport: 'per-conversation' as const,
    }
    try {
      const client = testClient(options)
      const alice = client.open(id)
      expect(await alice.whenSynced()).toBe(true)
      expect(alice.messages().map((m) => m.id)).toEqual([bobSaid])
      const unsent = alice.send('still mine to send') // the hostile server never stamps it

      hostile.sendAll(ISSUE_12_FRAME)
      await until(
        'stopped',
        () => alice.stopped?.code,
        (code) => code === INVALID_PAYLOAD_CODE,
      )
      expect(alice.stopped?.reason).toMatch(
        /^the server sent an update this replica cannot store: a struct of client 987654321 ends past clock/,
      )
      expect(alice.connection).toBe('offline')
      expectStorable(alice.doc)
      expect(texts(alice)).toEqual(['hello from bob before the poison', 'still mine to send'])
      // A hostile server must not be able to fail what this replica wrote: this is no refusal.
      expect(alice.status(unsent.id)).toBe('pending')
      expect(alice.failureReason(unsent.id)).toBeUndefined()

      await settle()
      expect(hostile.connections()).toBe(1) // no retry loop against a server that sends poison
      expect(hostile.openSockets()).toBe(0) // the client closed its socket
      expect(await alice.whenPersisted()).toBe(true)
      for (const update of await storedUpdates(databaseName('alice', id))) {
        expect(updateProblem(update)).toBeUndefined()
      }

      alice.reconnect() // the app's "retry now": clears the stop and tries again
      expect(alice.stopped).toBeUndefined()
      await until(
        'synced again',
        () => alice.connection,
        (state) => state === 'synced',
      )
      expect(hostile.connections()).toBe(2)
      await client.close()

      // The reload: the replica's IndexedDB copy holds nothing of the poison.
      const reloaded = testClient({ ...options, connect: false })
      const again = reloaded.open(id)
      expect(await again.whenSynced()).toBe(false)
      expect(again.loadedFromDisk()).toBe(true)
      expectStorable(again.doc)
      expect(texts(again)).toEqual(['hello from bob before the poison', 'still mine to send'])
      expect(again.status(unsent.id)).toBe('pending')
      await reloaded.close()
    } finally {
      await hostile.close()
    }
  })

  const poisons: [string, Uint8Array, RegExp][] = [
    [
      'an update that does not decode',
      syncFrame(syncProtocol.messageYjsUpdate, Uint8Array.of(1, 2, 3, 4, 5)),
      /update.*does not decode/,
    ],
    [
      'an update one clock past MAX_CLOCK',
      syncFrame(syncProtocol.messageYjsUpdate, gcUpdate(POISON_CLIENT, MAX_CLOCK + 1)),
      /cannot store: a struct of client 987654321 ends past clock/,
    ],
    [
      'a sync step 2 past 2^53',
      syncFrame(syncProtocol.messageYjsSyncStep2, gcUpdate(POISON_CLIENT, 2 ** 53 + 2)),
      /cannot store: a struct of client 987654321 ends past clock/,
    ],
    ['a truncated sync message', Uint8Array.of(0, 2, 9, 1), /a sync message that does not decode/],
    ['a sync message of an unknown type', syncFrame(7, Uint8Array.of()), /unknown type 7/],
    [
      'a state vector that does not decode',
      syncFrame(syncProtocol.messageYjsSyncStep1, Uint8Array.of(1, 0xff, 0xff)),
      /a state vector this replica cannot read: .*does not decode/,
    ],
  ]

  it.each(poisons)('refuses %s after an honest sync, keeping what came before', async (_, frame, reason) => {
    const id = randomId()
    const { doc: honest } = honestConversation(id)
    const hostile = await startHostileServer(honest)
    const client = testClient({
      transport: 'per-conversation',
      url: hostile.url,
      token: 'whatever',
      userId: 'alice',
    })
    try {
      const alice = client.open(id)
      expect(await alice.whenSynced()).toBe(true)
      hostile.sendAll(frame)
      await until(
        'stopped',
        () => alice.stopped?.code,
        (code) => code === INVALID_PAYLOAD_CODE,
      )
      expect(alice.stopped?.reason).toMatch(/^the server sent /)
      expect(alice.stopped?.reason).toMatch(reason)
      expectStorable(alice.doc)
      expect(texts(alice)).toEqual(['hello from bob before the poison'])
    } finally {
      await client.close()
      await hostile.close()
    }
  })

  it('refuses a first answer that mixes honest content with poison: none of it is applied', async () => {
    const id = randomId()
    const { doc: honest } = honestConversation(id)
    const hostile = await startHostileServer(honest)
    hostile.answer = (stateVector) => [
      syncFrame(
        syncProtocol.messageYjsSyncStep2,
        Y.mergeUpdates([Y.encodeStateAsUpdate(honest, stateVector), gcUpdate(POISON_CLIENT, 2 ** 53)]),
      ),
    ]
    const client = testClient({
      transport: 'per-conversation',
      url: hostile.url,
      token: 'whatever',
      userId: 'alice',
    })
    try {
      const alice = client.open(id)
      expect(await alice.whenSynced()).toBe(false)
      expect(alice.stopped?.code).toBe(INVALID_PAYLOAD_CODE)
      expect(alice.stopped?.reason).toMatch(/cannot store/)
      expectStorable(alice.doc)
      expect(alice.messages()).toEqual([])
      expect(alice.members()).toEqual({})
    } finally {
      await client.close()
      await hostile.close()
    }
  })

  it('drops awareness that does not decode, without a throw or a stop; presence goes on', async () => {
    const id = randomId()
    const { doc: honest } = honestConversation(id)
    const hostile = await startHostileServer(honest)
    const client = testClient({
      transport: 'per-conversation',
      url: hostile.url,
      token: 'whatever',
      userId: 'alice',
    })
    try {
      const alice = client.open(id)
      expect(await alice.whenSynced()).toBe(true)
      const notJson = encoding.createEncoder()
      encoding.writeVarUint(notJson, 1)
      encoding.writeVarUint(notJson, 42)
      encoding.writeVarUint(notJson, 1)
      encoding.writeVarString(notJson, '{"user":')
      hostile.sendAll(awarenessFrame(encoding.toUint8Array(notJson)))
      hostile.sendAll(awarenessFrame(Uint8Array.of(3, 42, 1))) // three entries announced, none there
      hostile.sendAll(Uint8Array.of(1, 200)) // a payload longer than the frame

      const bob = new Awareness(new Y.Doc())
      bob.setLocalState({ user: 'bob', typing: true })
      hostile.sendAll(awarenessFrame(encodeAwarenessUpdate(bob, [bob.clientID])))
      await until('bob present', () => alice.presence().bob?.typing, Boolean)
      expect(alice.stopped).toBeUndefined()
      expect(alice.connection).toBe('synced')
      expect(Object.keys(alice.presence()).sort()).toEqual(['alice', 'bob'])
      bob.destroy()
    } finally {
      await client.close()
      await hostile.close()
    }
  })
})

describe('another tab cannot brick a replica either', () => {
  it("refuses issue 12's frame from the BroadcastChannel the same way, naming the tab", async () => {
    const id = randomId()
    const { doc: honest } = honestConversation(id)
    const hostile = await startHostileServer(honest)
    const client = testClient({
      transport: 'per-conversation',
      url: hostile.url,
      token: 'whatever',
      userId: 'alice',
      connection: { crossTab: true },
    })
    // What another tab of alice's in this browser publishes on (Node has BroadcastChannel too).
    const otherTab = new BroadcastChannel(`${hostile.url}/sync/${id}#alice`)
    try {
      const alice = client.open(id)
      expect(await alice.whenSynced()).toBe(true)
      // An honest tab's update still goes through the guard.
      const tabDoc = new Y.Doc({ guid: id })
      Y.applyUpdate(tabDoc, Y.encodeStateAsUpdate(honest))
      const before = Y.encodeStateVector(tabDoc)
      const otherTabConversation = new Conversation(tabDoc, { userId: 'alice' })
      otherTabConversation.send('from my other tab')
      otherTabConversation.destroy()
      otherTab.postMessage(syncFrame(syncProtocol.messageYjsUpdate, Y.encodeStateAsUpdate(tabDoc, before)))
      await until(
        "the honest tab's message arrives",
        () => texts(alice),
        (seen) => seen.includes('from my other tab'),
      )

      const unsent = alice.send('still mine to send')
      otherTab.postMessage(ISSUE_12_FRAME)
      await until(
        'stopped',
        () => alice.stopped?.code,
        (code) => code === INVALID_PAYLOAD_CODE,
      )
      expect(alice.stopped?.reason).toMatch(
        /^another tab of this browser sent an update this replica cannot store: a struct of client 987654321/,
      )
      expectStorable(alice.doc)
      expect(texts(alice)).toContain('still mine to send')
      expect(texts(alice)).toHaveLength(3)
      expect(alice.status(unsent.id)).toBe('pending')
      await until(
        'socket closed',
        () => hostile.openSockets(),
        (open) => open === 0,
      )
    } finally {
      otherTab.close()
      await client.close()
      await hostile.close()
    }
  })
})

describe('the checks, frame by frame', () => {
  const syncProblem = (frame: Uint8Array) => {
    const decoder = decoding.createDecoder(frame)
    decoding.readVarUint(decoder) // message type: sync
    return syncMessageProblem(decoder)
  }

  it('pass what an honest peer sends', () => {
    const { doc } = honestConversation(randomId())
    expect(syncProblem(syncFrame(syncProtocol.messageYjsSyncStep1, Y.encodeStateVector(doc)))).toBeUndefined()
    expect(
      syncProblem(syncFrame(syncProtocol.messageYjsSyncStep2, Y.encodeStateAsUpdate(doc))),
    ).toBeUndefined()
    expect(syncProblem(syncFrame(syncProtocol.messageYjsUpdate, gcUpdate(7, MAX_CLOCK)))).toBeUndefined()
    const awareness = new Awareness(doc)
    awareness.setLocalState({ user: 'bob', typing: false })
    const update = encodeAwarenessUpdate(awareness, [doc.clientID])
    expect(awarenessProblem(decoding.createDecoder(awarenessFrame(update).subarray(1)))).toBeUndefined()
    awareness.destroy()
  })

  it("name issue 12's frame", () => {
    expect(syncProblem(ISSUE_12_FRAME)).toMatch(/^an update this replica cannot store: /)
  })
})

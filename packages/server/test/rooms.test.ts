import { describe, expect, it } from 'vitest'
import { createConversation, MemoryStore, RoomError, type RoomOptions, RoomRegistry } from '../src/index.js'
import { connectMemoryPeer, until } from './helpers/memory-peer.js'

describe('the room registry', () => {
  it('unloads an idle room after flushing it, and reloads it with everything', async () => {
    const store = new MemoryStore()
    const id = await createConversation(store, { title: 'T', members: { alice: 'owner' } })
    const rooms = new RoomRegistry({ store, idleUnloadMs: 20 })
    const lease = await rooms.acquire(id)
    const alice = connectMemoryPeer(lease.room, 'alice')
    await until(() => alice.conversation.title() === 'T')
    alice.conversation.send('before unload')
    alice.connection.disconnect()
    lease.release()
    await until(() => rooms.size === 0, 2000, 'unloaded')
    const again = await rooms.acquire(id)
    expect(again.room).not.toBe(lease.room)
    expect(again.room.index.order).toHaveLength(1) // flushed and stamped before it was unloaded
    again.release()
    await rooms.closeAll()
  })

  it('evicts the least recently used idle room past the cap, and refuses when all are busy', async () => {
    const store = new MemoryStore()
    const ids = await Promise.all(
      [1, 2, 3].map(() => createConversation(store, { title: 'T', members: { a: 'owner' } })),
    )
    const rooms = new RoomRegistry({ store, maxRooms: 2, idleUnloadMs: 60_000 })
    const first = await rooms.acquire(ids[0]!)
    first.release()
    const second = await rooms.acquire(ids[1]!)
    const third = await rooms.acquire(ids[2]!) // evicts the idle first room
    await until(() => rooms.openRooms().every((room) => room.id !== ids[0]), 2000, 'evicted')
    await expect(rooms.acquire(ids[0]!)).rejects.toMatchObject({ code: 'busy' })
    await expect(rooms.acquire('missing')).rejects.toBeInstanceOf(RoomError)
    second.release()
    third.release()
    await rooms.closeAll()
  })

  it('counts a lease released twice once: the room stays while another lease holds it', async () => {
    const store = new MemoryStore()
    const id = await createConversation(store, { title: 'T', members: { alice: 'owner' } })
    const rooms = new RoomRegistry({ store, idleUnloadMs: 20 })
    const first = await rooms.acquire(id)
    const second = await rooms.acquire(id)
    first.release()
    first.release()
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(rooms.size).toBe(1)
    expect(second.room.isOpen).toBe(true)
    second.release()
    await until(() => rooms.size === 0, 2000, 'unloaded')
    await rooms.closeAll()
  })

  it("hands every room the registry's room options, each in its place", async () => {
    const store = new MemoryStore()
    const id = await createConversation(store, { title: 'T', members: { alice: 'owner' } })
    const given = {
      store,
      commitWindowMs: 3,
      manualCommits: false,
      limits: { burst: 7 },
      compaction: { maxEntries: 11, maxBytes: 13 },
      historyWindow: 17,
      events: {},
      slowCommitMs: 19,
    }
    const rooms = new RoomRegistry({ ...given, maxRooms: 5, idleUnloadMs: 60_000 })
    const lease = await rooms.acquire(id)
    // White-box: the room keeps its options, built field by field (not by spread) in rooms.ts.
    const options = (lease.room as unknown as { options: RoomOptions }).options
    expect(options).toMatchObject({ ...given, id, cluster: undefined, log: undefined })
    expect(options.onPoisoned).toBeTypeOf('function')
    lease.release()
    await rooms.closeAll()
  })
})

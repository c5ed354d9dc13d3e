import { afterEach, describe, expect, it } from 'vitest'
import { createNetwork, createRandom, type Network } from '../src/index.js'
import { Scheduler } from '../src/network/scheduler.js'

const invalid = (message: RegExp) =>
  expect.objectContaining({ code: 'invalid-argument', message: expect.stringMatching(message) })

describe('the simulator refuses arguments that would silently misbehave', () => {
  let network: Network | undefined
  afterEach(async () => {
    await network?.close()
    network = undefined
  })

  it('requires a seed that names exactly one run', async () => {
    // Missing, fractional or beyond 32 bits, it would silently replay another seed's run.
    for (const seed of [undefined, 1.9, 2 ** 32 + 1, -1, Number.NaN]) {
      await expect(createNetwork({ seed } as never)).rejects.toThrow(
        invalid(/^createNetwork: seed must be an integer from 0 to 4294967295/),
      )
    }
    expect(() => createRandom(1.5)).toThrow(invalid(/seed must be an integer/))
    network = await createNetwork({ seed: 2 ** 32 - 1 })
    expect(network.seed).toBe(2 ** 32 - 1)
  })

  it('refuses faults outside their range, and unknown ones', async () => {
    await expect(createNetwork({ seed: 1, faults: { delay: [50, 1] } })).rejects.toThrow(
      invalid(/min <= max/),
    )
    network = await createNetwork({ seed: 1 })
    const bad = [
      { drop: -0.5 },
      { drop: 5 },
      { duplicate: Number.NaN },
      { reorder: '0.2' },
      { delay: -10 },
      { delay: [50, 1] },
      { delay: [0, Number.POSITIVE_INFINITY] },
      { dorp: 0.1 },
    ]
    for (const faults of bad) expect(() => network!.faults(faults as never)).toThrow(invalid(/^faults\(\)/))
    network.faults({ drop: 0.5, delay: [0, 3] }) // still accepts good ones
  })

  it('refuses run() and settle() arguments that would stop simulated time', async () => {
    network = await createNetwork({ seed: 1 })
    network.replica('alice')
    await network.settle()
    for (const ms of [Number.NaN, -1, Number.POSITIVE_INFINITY]) {
      await expect(network.run(ms)).rejects.toThrow(invalid(/^run\(\)/))
    }
    await expect(network.settle({ maxRounds: 0 })).rejects.toThrow(invalid(/maxRounds/))
    expect(network.now).toBeGreaterThanOrEqual(0)
    await network.run(5)
    expect(Number.isFinite(network.now)).toBe(true)
  })

  it('refuses nodes that are not its own, and ids the room would refuse', async () => {
    network = await createNetwork({ seed: 1 })
    const alice = network.replica('alice')
    const other = await createNetwork({ seed: 2 })
    try {
      const foreign = other.replica('alice')
      expect(() => network!.partition(['bob'] as never, [network!.server])).toThrow(
        invalid(/"bob" is neither a replica/),
      )
      expect(() => network!.partition([alice], [alice, network!.server])).toThrow(invalid(/in both groups/))
      expect(() => network!.isolate(foreign)).toThrow(invalid(/of another network/))
      expect(() => network!.faults({ drop: 1 }, [foreign])).toThrow(invalid(/of another network/))
      expect(() => network!.replica('alice', 'my phone')).toThrow(invalid(/invalid deviceId/))
    } finally {
      await other.close()
    }
  })

  it('throws a clear error once closed, and keeps its records readable', async () => {
    const closed = await createNetwork({ seed: 1 })
    const alice = closed.replica('alice')
    await closed.settle()
    await closed.close()
    const isClosed = expect.objectContaining({ code: 'closed', message: 'network (seed 1) is closed' })
    expect(() => closed.replica('bob')).toThrow(isClosed)
    expect(() => closed.heal()).toThrow(isClosed)
    expect(() => closed.isolate(alice)).toThrow(isClosed)
    expect(() => closed.faults({ drop: 0 })).toThrow(isClosed)
    expect(() => closed.assertConverged()).toThrow(isClosed)
    expect(() => alice.reconnect()).toThrow(isClosed)
    await expect(closed.run(1)).rejects.toThrow(isClosed)
    await expect(closed.settle()).rejects.toThrow(isClosed)
    expect(closed.stats().connects).toBe(1)
    closed.assertLaws()
    await closed.close()
  })

  it('never schedules an event at a time that never comes', () => {
    const scheduler = new Scheduler()
    for (const at of [Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => scheduler.at(at, 'x', () => {})).toThrow(invalid(/cannot schedule/))
    }
    expect(() => scheduler.after(Number.NaN, 'x', () => {})).toThrow(invalid(/cannot schedule/))
    expect(scheduler.pending).toBe(0)
  })
})

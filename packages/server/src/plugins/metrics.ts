import type { FastifyInstance } from 'fastify'
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { StoreHealth } from '../store/health.js'
import type { RoomEvents } from '../sync/room.js'

export interface Metrics {
  registry: Registry
  roomEvents: RoomEvents
  bytesIn: Counter
  sockets: Gauge
}

/** Prometheus metrics on a Registry of this server alone, so one process can run several servers. */
export function createMetrics(sources: {
  rooms: () => number
  storeHealth?: StoreHealth
  /** Several nodes: whether the relay between them is up (else rooms poll the store). */
  relayConnected?: (() => boolean) | undefined
}): Metrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const sockets = new Gauge({
    name: 'ticks_sockets',
    help: 'Open WebSocket connections',
    registers: [registry],
  })
  new Gauge({
    name: 'ticks_rooms',
    help: 'Conversations loaded in memory',
    registers: [registry],
    collect() {
      this.set(sources.rooms())
    },
  })
  if (sources.relayConnected) {
    const connected = sources.relayConnected
    new Gauge({
      name: 'ticks_relay_connected',
      help: 'Whether the relay between nodes is up (1); while 0, rooms poll the store',
      registers: [registry],
      collect() {
        this.set(connected() ? 1 : 0)
      },
    })
  }
  const updatesIn = new Counter({
    name: 'ticks_updates_in_total',
    help: 'Accepted client updates',
    registers: [registry],
  })
  const updateBytesIn = new Counter({
    name: 'ticks_update_bytes_in_total',
    help: 'Bytes of accepted client updates',
    registers: [registry],
  })
  const bytesIn = new Counter({
    name: 'ticks_bytes_in_total',
    help: 'Bytes received on sockets',
    registers: [registry],
  })
  const framesOut = new Counter({
    name: 'ticks_frames_out_total',
    help: 'Frames sent to sockets',
    registers: [registry],
  })
  const bytesOut = new Counter({
    name: 'ticks_bytes_out_total',
    help: 'Bytes sent to sockets',
    registers: [registry],
  })
  const refused = new Counter({
    name: 'ticks_refused_total',
    help: 'Refused input: sockets closed, by close code and reason code; requests refused before any route (a foreign Origin), by HTTP status',
    labelNames: ['close_code', 'code'],
    registers: [registry],
  })
  const persist = new Histogram({
    name: 'ticks_persist_seconds',
    help: 'Store commit latency (group commit of updates and stamp)',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  })
  const persistFailures = new Counter({
    name: 'ticks_persist_failures_total',
    help: 'Store commits that failed (each poisons its room; /readyz fails until a write succeeds)',
    registers: [registry],
  })
  const persistedUpdates = new Counter({
    name: 'ticks_persisted_updates_total',
    help: 'Updates (and stamps) committed',
    registers: [registry],
  })
  const quarantined = new Counter({
    name: 'ticks_quarantined_entries_total',
    help: 'Stored updates set aside because they could not be loaded (list them: ticks-server quarantine list)',
    registers: [registry],
  })
  const defects = new Counter({
    name: 'ticks_apply_defects_total',
    help: 'Checked updates that Yjs failed to apply; each reloads its room from the store (a bug: report it)',
    registers: [registry],
  })
  const leases = new Gauge({
    name: 'ticks_sequencer_leases',
    help: 'Conversations this node stamps now (holds the sequencer lease of; several nodes only)',
    registers: [registry],
  })
  const leaseChanges = new Counter({
    name: 'ticks_lease_changes_total',
    help: 'Sequencer leases this node took or lost (several nodes only)',
    labelNames: ['change'],
    registers: [registry],
  })
  const relayMessages = new Counter({
    name: 'ticks_relay_messages_total',
    help: 'Relay messages between nodes, by direction (several nodes only)',
    labelNames: ['direction'],
    registers: [registry],
  })
  const catchUpEntries = new Counter({
    name: 'ticks_catchup_entries_total',
    help: 'Store entries read to catch up after a relay gap, a relay reconnect, or while the relay is down',
    registers: [registry],
  })
  const claimConflicts = new Counter({
    name: 'ticks_claim_conflicts_total',
    help: 'Commits refused because another node took one of their ids first (each reloads its room; several nodes only)',
    registers: [registry],
  })
  return {
    registry,
    bytesIn,
    sockets,
    roomEvents: {
      updateIn(bytes) {
        updatesIn.inc()
        updateBytesIn.inc(bytes)
      },
      frameOut(bytes) {
        framesOut.inc()
        bytesOut.inc(bytes)
      },
      refused(closeCode, code) {
        refused.inc({ close_code: String(closeCode), code })
      },
      persisted(seconds, updates) {
        persist.observe(seconds)
        persistedUpdates.inc(updates)
        sources.storeHealth?.committed()
      },
      persistFailed(error) {
        persistFailures.inc()
        sources.storeHealth?.commitFailed(error)
      },
      quarantined() {
        quarantined.inc()
      },
      defect() {
        defects.inc()
      },
      leaseGained() {
        leases.inc()
        leaseChanges.inc({ change: 'gained' })
      },
      leaseLost() {
        leases.dec()
        leaseChanges.inc({ change: 'lost' })
      },
      relayed(direction) {
        relayMessages.inc({ direction })
      },
      caughtUp(entries) {
        catchUpEntries.inc(entries)
      },
      claimConflict() {
        claimConflicts.inc()
      },
    },
  }
}

export async function metricsPlugin(app: FastifyInstance, options: { metrics: Metrics }): Promise<void> {
  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', options.metrics.registry.contentType)
    return options.metrics.registry.metrics()
  })
}

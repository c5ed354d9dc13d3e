import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { TicksError } from '@ticks/core'
import { type LoopbackTarget, loopbackTarget } from './loopback.js'
import { createRandom, type Random } from './random.js'
import { MAX_TIMER_MS, requireMs, requireProbability, requireSeed } from './validation.js'
import {
  FrameReader,
  HttpHeadReader,
  isControlFrame,
  isSwitchingProtocols,
  isWebSocketUpgrade,
  OPCODE_BINARY,
  OPCODE_TEXT,
  withoutExtensions,
} from './ws-frames.js'

export interface ChaosProxyOptions {
  /** Where to forward: loopback only (`ws://127.0.0.1:8080`, a port, `{ host, port }`). */
  target: string | number | LoopbackTarget
  /** Port to listen on, on 127.0.0.1; 0 (default) picks a free one. */
  port?: number
  /** Seed for drop and jitter decisions: an integer from 0 to 2^32 − 1. Default 1. */
  seed?: number
}

export interface ChaosProxyStats {
  connectionsAccepted: number
  connectionsOpen: number
  connectionsCut: number
  /** WebSocket data messages written to the other side (not those held, then lost in a cut). */
  messagesForwarded: number
  messagesDropped: number
  bytesForwarded: number
}

export interface ChaosProxy {
  readonly port: number
  /** `ws://127.0.0.1:<port>`: put this where the client would put the server's URL. */
  readonly url: string
  /**
   * The link goes down: every open connection is reset now, and new ones are refused until
   * `restore()`. For a one-off reset, `cut()` then `restore()`.
   */
  cut(): void
  /**
   * Packets vanish: connections are accepted and kept open, but nothing is forwarded either way
   * until `restore()`, which then delivers what was held, in order (as TCP would after an outage
   * its peers survived). Clients with liveness timeouts notice and reconnect by themselves.
   */
  blackhole(): void
  /** Back to a working link (latency and drop rate stay as set). */
  restore(): void
  /**
   * Added one-way delay for everything forwarded, in ms, plus a uniform random jitter in [0, jitter].
   * Both finite and >= 0, their sum at most 2^31 − 1 ms (the longest a Node timer waits).
   */
  latency(ms: number, jitter?: number): void
  /**
   * Drop this fraction of WebSocket data messages, in both directions. Whole messages are
   * dropped (control frames never), so each stream stays valid for its peer.
   */
  dropRate(p: number): void
  /**
   * A slow link or a slow reader: each connection reads at most this many bytes per second from
   * each side (`Infinity`, the default, for no limit). What it does not read stays in the kernel's
   * buffers, so the sender feels real TCP back-pressure — its socket's `bufferedAmount` grows once
   * those are full (a few MB on loopback). Applies at once to open connections too.
   */
  bandwidth(bytesPerSecond: number): void
  stats(): ChaosProxyStats
  /** Reset every connection and stop listening. Afterwards only `stats()` works; the rest throws TicksError `closed`. */
  close(): Promise<void>
}

type LinkState = 'up' | 'blackhole' | 'cut'

interface Settings {
  state: LinkState
  latencyMs: number
  jitterMs: number
  dropRate: number
  bytesPerSecond: number
  random: Random
  stats: ChaosProxyStats
}

/** Start a TCP proxy on 127.0.0.1 that forwards to a loopback target and can misbehave on demand. */
export async function createChaosProxy(options: ChaosProxyOptions): Promise<ChaosProxy> {
  const target = loopbackTarget(options.target)
  const seed = requireSeed(options.seed ?? 1, 'createChaosProxy')
  const settings: Settings = {
    state: 'up',
    latencyMs: 0,
    jitterMs: 0,
    dropRate: 0,
    bytesPerSecond: Number.POSITIVE_INFINITY,
    random: createRandom(seed),
    stats: {
      connectionsAccepted: 0,
      connectionsOpen: 0,
      connectionsCut: 0,
      messagesForwarded: 0,
      messagesDropped: 0,
      bytesForwarded: 0,
    },
  }
  const connections = new Set<ProxiedConnection>()
  const server: Server = createServer((client) => {
    if (settings.state === 'cut') {
      client.resetAndDestroy()
      return
    }
    settings.stats.connectionsAccepted++
    const connection = new ProxiedConnection(client, target, settings, () => connections.delete(connection))
    connections.add(connection)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('chaos proxy: no TCP address')
  const port = address.port
  let closing: Promise<void> | undefined
  const assertOpen = (call: string): void => {
    if (closing) throw new TicksError('closed', `chaos proxy on port ${port} is closed: ${call} does nothing`)
  }

  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    cut() {
      assertOpen('cut()')
      settings.state = 'cut'
      for (const connection of connections) {
        settings.stats.connectionsCut++
        connection.destroy()
      }
    },
    blackhole() {
      assertOpen('blackhole()')
      settings.state = 'blackhole'
    },
    restore() {
      assertOpen('restore()')
      settings.state = 'up'
      for (const connection of connections) connection.flush()
    },
    latency(ms, jitter = 0) {
      assertOpen('latency()')
      requireMs(ms, 'chaos proxy: latency', MAX_TIMER_MS)
      requireMs(jitter, 'chaos proxy: jitter', MAX_TIMER_MS - ms)
      settings.latencyMs = ms
      settings.jitterMs = jitter
    },
    dropRate(p) {
      assertOpen('dropRate()')
      settings.dropRate = requireProbability(p, 'chaos proxy: drop rate')
    },
    bandwidth(bytesPerSecond) {
      assertOpen('bandwidth()')
      if (typeof bytesPerSecond !== 'number' || !(bytesPerSecond > 0)) {
        throw new TicksError(
          'invalid-argument',
          `chaos proxy: bandwidth must be > 0 bytes per second, Infinity for no limit (got ${String(bytesPerSecond)})`,
        )
      }
      settings.bytesPerSecond = bytesPerSecond
      for (const connection of connections) connection.rethrottle()
    },
    stats: () => ({ ...settings.stats, connectionsOpen: connections.size }),
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const connection of connections) connection.destroy()
        server.close(() => resolve())
      })
      return closing
    },
  }
}

/** One client connection and its upstream twin. */
class ProxiedConnection {
  private readonly upstream: Socket
  private readonly toServer: Direction
  private readonly toClient: Direction
  private destroyed = false

  constructor(
    private readonly client: Socket,
    target: LoopbackTarget,
    settings: Settings,
    private readonly onGone: () => void,
  ) {
    this.upstream = createConnection({ host: target.host, port: target.port })
    client.setNoDelay(true)
    this.upstream.setNoDelay(true)
    const events = {
      onFinished: () => this.maybeFinished(),
      // A peer that speaks neither HTTP nor WebSocket loses its own connection, nothing more.
      onMalformed: () => this.destroy(),
    }
    this.toServer = new Direction(client, this.upstream, settings, events)
    this.toClient = new Direction(this.upstream, client, settings, {
      ...events,
      onResponseHead: (switching) => this.toServer.upgradeAnswered(switching),
    })
    for (const socket of [client, this.upstream]) {
      // A peer that vanished (ECONNREFUSED while the server restarts, a reset) takes its twin with
      // it: the client sees its connection drop and reconnects, as it would without the proxy.
      socket.on('error', () => this.destroy())
    }
  }

  flush(): void {
    this.toServer.flush()
    this.toClient.flush()
  }

  rethrottle(): void {
    this.toServer.rethrottle()
    this.toClient.rethrottle()
  }

  destroy(): void {
    if (this.destroyed) return
    this.destroyed = true
    this.toServer.stop()
    this.toClient.stop()
    this.client.resetAndDestroy()
    this.upstream.resetAndDestroy()
    this.onGone()
  }

  private maybeFinished(): void {
    if (this.toServer.finished && this.toClient.finished) this.destroy()
  }
}

interface Queued {
  at: number
  bytes: Buffer
  /** The first frame of a data message: counted as forwarded once written. */
  startsMessage: boolean
}

interface DirectionEvents {
  onFinished(): void
  /** The stream could not be parsed (not HTTP, an absurd frame): give up on this connection. */
  onMalformed(): void
  /**
   * Response side only: the server answered (`switching`: with a 101). Returns whether WebSocket
   * frames follow, i.e. the request was a WebSocket upgrade.
   */
  onResponseHead?(switching: boolean): boolean
}

/**
 * What a direction does with bytes: wait for an HTTP head; on the request side, wait for the
 * answer to a WebSocket upgrade (holding anything sent meanwhile); then parse WebSocket frames, or
 * pass plain HTTP through untouched (its bodies are not frames).
 */
type Phase = 'head' | 'awaiting-upgrade' | 'frames' | 'raw'

/**
 * One direction of a connection: reads the HTTP head, then WebSocket frames, decides what to drop,
 * delays the rest in order, and holds everything while the link is black-holed.
 */
class Direction {
  private readonly queue: Queued[] = []
  private readonly headReader = new HttpHeadReader()
  private readonly frameReader = new FrameReader()
  private phase: Phase = 'head'
  /** Request bytes that came before the server answered the upgrade. */
  private heldForUpgrade: Buffer[] = []
  /** Drop decision of the data message being received (it may come in several frames). */
  private droppingMessage = false
  private lastDeliveryAt = 0
  private timer: NodeJS.Timeout | undefined
  private sourceEnded = false
  private waitingForDrain = false
  /** Bandwidth limit: reading resumes at `readableAt` (ms), when the bytes read so far are paid for. */
  private readableAt = 0
  private throttleTimer: NodeJS.Timeout | undefined
  private stopped = false
  finished = false

  constructor(
    private readonly source: Socket,
    private readonly sink: Socket,
    private readonly settings: Settings,
    private readonly events: DirectionEvents,
  ) {
    source.on('data', (chunk: Buffer) => {
      // Thrown inside a socket listener, a parse error would take the whole process down.
      try {
        this.receive(chunk)
      } catch {
        this.events.onMalformed()
      }
    })
    source.on('end', () => this.sourceEnd())
    source.on('close', () => this.sourceEnd())
  }

  private sourceEnd(): void {
    this.sourceEnded = true
    // No frames can follow a request whose sender is gone: pass on what it sent, then the end.
    this.upgradeAnswered(false)
    this.flush()
  }

  /**
   * Request side: the server answered. Frames follow only a WebSocket upgrade answered with 101;
   * returns whether they do.
   */
  upgradeAnswered(switching: boolean): boolean {
    if (this.phase !== 'awaiting-upgrade') return false
    this.phase = switching ? 'frames' : 'raw'
    const held = this.heldForUpgrade
    this.heldForUpgrade = []
    for (const chunk of held) this.forward(chunk)
    return switching
  }

  stop(): void {
    this.stopped = true
    clearTimeout(this.timer)
    clearTimeout(this.throttleTimer)
    this.queue.length = 0
  }

  /** The bandwidth changed: forget the debt run up under the old limit and read on. */
  rethrottle(): void {
    clearTimeout(this.throttleTimer)
    this.throttleTimer = undefined
    this.readableAt = 0
    this.resumeIfFree()
  }

  private resumeIfFree(): void {
    if (!this.stopped && !this.waitingForDrain && this.throttleTimer === undefined) this.source.resume()
  }

  /** Pay for `bytes` just read: with a bandwidth limit, stop reading until they are paid for. */
  private throttle(bytes: number): void {
    const rate = this.settings.bytesPerSecond
    if (!Number.isFinite(rate)) return
    this.readableAt = Math.max(this.readableAt, Date.now()) + (bytes / rate) * 1000
    this.waitForBandwidth()
  }

  private waitForBandwidth(): void {
    if (this.throttleTimer !== undefined || this.stopped) return
    const wait = this.readableAt - Date.now()
    if (wait <= 0) {
      this.resumeIfFree()
      return
    }
    this.source.pause()
    // A tiny bandwidth can owe more than a Node timer waits: wake up and wait again.
    this.throttleTimer = setTimeout(
      () => {
        this.throttleTimer = undefined
        this.waitForBandwidth()
      },
      Math.min(wait, MAX_TIMER_MS),
    )
  }

  flush(): void {
    if (this.stopped) return
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.settings.state !== 'up') return
    const now = Date.now()
    while (this.queue.length > 0 && this.queue[0]!.at <= now) {
      const { bytes, startsMessage } = this.queue.shift()!
      this.settings.stats.bytesForwarded += bytes.length
      if (startsMessage) this.settings.stats.messagesForwarded++
      if (!this.sink.write(bytes) && !this.waitingForDrain) {
        // Backpressure: a slow reader behind the proxy slows its sender, as it would without us.
        this.waitingForDrain = true
        this.source.pause()
        this.sink.once('drain', () => {
          this.waitingForDrain = false
          this.resumeIfFree()
        })
      }
    }
    if (this.queue.length > 0) {
      this.timer = setTimeout(() => this.flush(), this.queue[0]!.at - now)
    } else if (this.sourceEnded && !this.finished) {
      this.finished = true
      this.sink.end()
      this.events.onFinished()
    }
  }

  private receive(chunk: Buffer): void {
    if (this.stopped) return
    this.throttle(chunk.length)
    if (this.phase === 'head') {
      const parsed = this.headReader.push(chunk)
      if (!parsed) return
      this.enqueue(Buffer.from(this.readHead(parsed.head), 'latin1'))
      chunk = parsed.rest
      if (chunk.length === 0) return
    }
    this.forward(chunk)
  }

  /** Decide the phase from the head; returns the head to forward. */
  private readHead(head: string): string {
    if (this.events.onResponseHead) {
      // Anything but a switch to WebSocket (a 401, a 404, any plain response) passes untouched.
      this.phase = this.events.onResponseHead(isSwitchingProtocols(head)) ? 'frames' : 'raw'
      return head
    }
    if (!isWebSocketUpgrade(head)) {
      this.phase = 'raw'
      return head
    }
    this.phase = 'awaiting-upgrade'
    return withoutExtensions(head)
  }

  private forward(chunk: Buffer): void {
    if (this.phase === 'awaiting-upgrade') {
      this.heldForUpgrade.push(chunk)
      return
    }
    if (this.phase === 'raw') {
      this.enqueue(chunk)
      return
    }
    for (const frame of this.frameReader.push(chunk)) {
      let startsMessage = false
      if (!isControlFrame(frame)) {
        if (frame.opcode === OPCODE_TEXT || frame.opcode === OPCODE_BINARY) {
          this.droppingMessage = this.settings.random.chance(this.settings.dropRate)
          if (this.droppingMessage) this.settings.stats.messagesDropped++
          else startsMessage = true
        }
        if (this.droppingMessage) continue
      }
      this.enqueue(frame.bytes, startsMessage)
    }
  }

  private enqueue(bytes: Buffer, startsMessage = false): void {
    const { latencyMs, jitterMs, random } = this.settings
    const delay = latencyMs + (jitterMs > 0 ? random.next() * jitterMs : 0)
    // Never overtake what is already queued: TCP delivers in order, jitter or not.
    const at = Math.max(this.lastDeliveryAt, Date.now() + delay)
    this.lastDeliveryAt = at
    this.queue.push({ at, bytes, startsMessage })
    if (this.timer === undefined) this.flush()
  }
}

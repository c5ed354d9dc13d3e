import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { type LoopbackTarget, loopbackTarget } from './loopback.js'
import { createRandom, type Random } from './random.js'
import {
  FrameReader,
  HttpHeadReader,
  isControlFrame,
  isSwitchingProtocols,
  OPCODE_BINARY,
  OPCODE_TEXT,
  withoutExtensions,
} from './ws-frames.js'

export interface ChaosProxyOptions {
  /** Where to forward: loopback only (`ws://127.0.0.1:8080`, a port, `{ host, port }`). */
  target: string | number | LoopbackTarget
  /** Port to listen on, on 127.0.0.1; 0 (default) picks a free one. */
  port?: number
  /** Seed for drop and jitter decisions. */
  seed?: number
}

export interface ChaosProxyStats {
  connectionsAccepted: number
  connectionsOpen: number
  connectionsCut: number
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
  /** Added one-way delay for everything forwarded, in ms, plus a uniform random jitter in [0, jitter]. */
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
  const settings: Settings = {
    state: 'up',
    latencyMs: 0,
    jitterMs: 0,
    dropRate: 0,
    bytesPerSecond: Number.POSITIVE_INFINITY,
    random: createRandom(options.seed ?? 1),
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

  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    cut() {
      settings.state = 'cut'
      for (const connection of connections) {
        settings.stats.connectionsCut++
        connection.destroy()
      }
    },
    blackhole() {
      settings.state = 'blackhole'
    },
    restore() {
      settings.state = 'up'
      for (const connection of connections) connection.flush()
    },
    latency(ms, jitter = 0) {
      if (!(ms >= 0 && jitter >= 0)) throw new Error('latency and jitter must be >= 0')
      settings.latencyMs = ms
      settings.jitterMs = jitter
    },
    dropRate(p) {
      if (!(p >= 0 && p <= 1)) throw new Error('drop rate must be within [0, 1]')
      settings.dropRate = p
    },
    bandwidth(bytesPerSecond) {
      if (!(bytesPerSecond > 0))
        throw new Error('bandwidth must be > 0 bytes per second (Infinity: no limit)')
      settings.bytesPerSecond = bytesPerSecond
      for (const connection of connections) connection.rethrottle()
    },
    stats: () => ({ ...settings.stats, connectionsOpen: connections.size }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const connection of connections) connection.destroy()
        server.close(() => resolve())
      }),
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
    this.toServer = new Direction(client, this.upstream, settings, 'request', () => this.maybeFinished())
    this.toClient = new Direction(this.upstream, client, settings, 'response', () => this.maybeFinished())
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
}

/**
 * One direction of a connection: reads the HTTP head, then WebSocket frames, decides what to drop,
 * delays the rest in order, and holds everything while the link is black-holed.
 */
class Direction {
  private readonly queue: Queued[] = []
  private readonly headReader = new HttpHeadReader()
  private readonly frameReader = new FrameReader()
  private phase: 'head' | 'frames' | 'raw' = 'head'
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
    private readonly headKind: 'request' | 'response',
    private readonly onFinished: () => void,
  ) {
    source.on('data', (chunk: Buffer) => this.receive(chunk))
    source.on('end', () => {
      this.sourceEnded = true
      this.flush()
    })
    source.on('close', () => {
      this.sourceEnded = true
      this.flush()
    })
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
    this.throttleTimer = setTimeout(() => {
      this.throttleTimer = undefined
      this.waitForBandwidth()
    }, wait)
  }

  flush(): void {
    if (this.stopped) return
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.settings.state !== 'up') return
    const now = Date.now()
    while (this.queue.length > 0 && this.queue[0]!.at <= now) {
      const { bytes } = this.queue.shift()!
      this.settings.stats.bytesForwarded += bytes.length
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
      this.onFinished()
    }
  }

  private receive(chunk: Buffer): void {
    if (this.stopped) return
    this.throttle(chunk.length)
    if (this.phase === 'head') {
      const parsed = this.headReader.push(chunk)
      if (!parsed) return
      let head = parsed.head
      if (this.headKind === 'request') {
        head = withoutExtensions(head)
        this.phase = 'frames'
      } else {
        // Anything but a switch to WebSocket (a 401, a 404) is passed through untouched.
        this.phase = isSwitchingProtocols(head) ? 'frames' : 'raw'
      }
      this.enqueue(Buffer.from(head, 'latin1'))
      chunk = parsed.rest
      if (chunk.length === 0) return
    }
    if (this.phase === 'raw') {
      this.enqueue(chunk)
      return
    }
    for (const frame of this.frameReader.push(chunk)) {
      if (!isControlFrame(frame)) {
        if (frame.opcode === OPCODE_TEXT || frame.opcode === OPCODE_BINARY) {
          this.droppingMessage = this.settings.random.chance(this.settings.dropRate)
          if (this.droppingMessage) this.settings.stats.messagesDropped++
          else this.settings.stats.messagesForwarded++
        }
        if (this.droppingMessage) continue
      }
      this.enqueue(frame.bytes)
    }
  }

  private enqueue(bytes: Buffer): void {
    const { latencyMs, jitterMs, random } = this.settings
    const delay = latencyMs + (jitterMs > 0 ? random.next() * jitterMs : 0)
    // Never overtake what is already queued: TCP delivers in order, jitter or not.
    const at = Math.max(this.lastDeliveryAt, Date.now() + delay)
    this.lastDeliveryAt = at
    this.queue.push({ at, bytes })
    if (this.timer === undefined) this.flush()
  }
}

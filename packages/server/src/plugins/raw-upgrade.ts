import { type IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyBaseLogger, FastifyInstance, FastifyServerOptions } from 'fastify'
import { type WebSocket, WebSocketServer } from 'ws'
import { requestIdFrom } from '../logging.js'
import { clientAddress } from './client-address.js'
import { originAllowed } from './origin-check.js'
import { type SocketRoute, socketRouteOf, tokenOf } from './socket-routes.js'

/**
 * What a socket keeps of the request that opened it, instead of the request: an upgrade routed
 * through Fastify (@fastify/websocket) kept its Fastify request and reply, Node's IncomingMessage
 * and ServerResponse alive for the socket's whole life, several KiB per idle socket.
 */
export interface SocketRequest {
  /** The upgrade's request id: every line of the socket's log carries it. */
  readonly id: string
  /** The client's address (through trusted proxies, as Fastify's `request.ip`). */
  readonly ip: string
  /** `?token=`, to be checked once the socket is open (refusals are close codes, not HTTP). */
  readonly token: string | undefined
  /** The TCP socket under the WebSocket: what `resetSocket` aborts. */
  readonly tcp: Socket
  readonly log: FastifyBaseLogger
}

export interface RawUpgradeOptions {
  allowedOrigins: readonly string[]
  trustProxy?: FastifyServerOptions['trustProxy']
  /** Where a proxy's request id may come from (see `requestIdFrom`). */
  requestIdHeader: string | false
  /** The largest frame ws buffers before any check of ours; ws closes on a larger one with 1009. */
  maxPayload: number
  /** A socket is open (handshake done): from here on it is the caller's. */
  onSocket(socket: WebSocket, request: SocketRequest, route: SocketRoute): void
  /** An upgrade was refused for its Origin (counted as REST's are). */
  onOriginRefused?: () => void
}

export interface RawUpgrades {
  /** Take no more upgrades: without a listener, Node serves an Upgrade as a plain request. */
  stop(): void
}

/**
 * The sockets' upgrades, straight from the HTTP server's `upgrade` event to ws: route, Origin
 * allow-list and request id before the handshake, nothing of Fastify kept afterwards. An Upgrade
 * to any other path goes through Fastify's routing as an ordinary request (404, 401, …; the
 * server's root hook then closes its socket, which the HTTP server no longer owns).
 */
export function acceptRawUpgrades(app: FastifyInstance, options: RawUpgradeOptions): RawUpgrades {
  const { allowedOrigins, onSocket } = options
  const address = clientAddress(options.trustProxy)
  const requestId = requestIdFrom(options.requestIdHeader)
  // Our own socket set and heartbeat: ws's client tracking would be a second set of every socket.
  const wss = new WebSocketServer({ noServer: true, clientTracking: false, maxPayload: options.maxPayload })
  const handshakeIds = new WeakMap<IncomingMessage, string>()
  wss.on('headers', (headers, request) => {
    const id = handshakeIds.get(request)
    if (id !== undefined) headers.push(`x-request-id: ${id}`)
  })

  const onUpgrade = (request: IncomingMessage, tcp: Socket, head: Buffer) => {
    // Node took its own error listener off the socket before emitting 'upgrade'.
    const guard = () => tcp.destroy()
    tcp.on('error', guard)
    const route = request.method === 'GET' ? socketRouteOf(request.url ?? '/') : undefined
    if (!route) return routeThroughFastify(app, request, tcp)

    const id = requestId(request)
    const ip = address.ip(request)
    const log = app.log.child({ reqId: id })
    log.info({ req: { method: request.method, url: request.url, ip } }, 'incoming request')
    const origin = request.headers.origin
    if (!originAllowed(origin, address.host(request), allowedOrigins)) {
      log.info({ origin, statusCode: 403 }, 'refused request: origin not allowed')
      options.onOriginRefused?.()
      return refuseHandshake(tcp, 403, id, {
        code: 'origin-not-allowed',
        message: 'this origin may not use this server (see the allowed origins of the server)',
      })
    }
    const token = tokenOf(request.url ?? '/')
    handshakeIds.set(request, id)
    // ws puts its own error listener on the socket before it can fail.
    tcp.removeListener('error', guard)
    wss.handleUpgrade(request, tcp, head, (socket) => {
      onSocket(socket, { id, ip, token, tcp, log }, route)
    })
  }
  app.server.on('upgrade', onUpgrade)
  return {
    stop() {
      app.server.removeListener('upgrade', onUpgrade)
      wss.close()
    },
  }
}

/** Answer an upgrade over HTTP, on the raw socket, with the JSON error body every REST error has. */
function refuseHandshake(tcp: Socket, status: number, requestId: string, error: object): void {
  if (!tcp.writable) return void tcp.destroy()
  const body = JSON.stringify({ error })
  tcp.once('finish', () => tcp.destroy())
  tcp.end(
    [
      `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? ''}`,
      'Connection: close',
      'Content-Type: application/json; charset=utf-8',
      `Content-Length: ${Buffer.byteLength(body)}`,
      `x-request-id: ${requestId}`,
      '',
      body,
    ].join('\r\n'),
  )
}

const STATUS_TEXT: Record<number, string> = { 403: 'Forbidden' }

/** As @fastify/websocket did: a response on the detached socket, through Fastify's whole stack. */
function routeThroughFastify(app: FastifyInstance, request: IncomingMessage, tcp: Socket): void {
  const response = new ServerResponse(request)
  try {
    response.assignSocket(tcp)
    app.routing(request, response)
  } catch (error) {
    app.log.warn({ err: error }, 'could not answer an upgrade request')
    tcp.destroy()
  }
}

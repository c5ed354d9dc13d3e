import type { IncomingMessage } from 'node:http'
import proxyAddr from '@fastify/proxy-addr'
import type { FastifyServerOptions } from 'fastify'

/**
 * Who sent a raw request and which host it named, as Fastify's `request.ip` and `request.host`
 * say with the same `trustProxy` (this is its code, on a request that never becomes a Fastify
 * request): a socket's per-address cap and Origin check must see what the REST routes see.
 */
export interface ClientAddress {
  ip(request: IncomingMessage): string
  host(request: IncomingMessage): string
}

export function clientAddress(trustProxy: FastifyServerOptions['trustProxy']): ClientAddress {
  if (!trustProxy)
    return {
      ip: (request) => request.socket.remoteAddress ?? '',
      host: (request) => request.headers.host ?? '',
    }
  const trusted = trustFunction(trustProxy)
  return {
    ip: (request) => proxyAddr.all(request, trusted).at(-1) ?? '',
    host: (request) => {
      const forwarded = request.headers['x-forwarded-host']
      if (typeof forwarded === 'string' && forwarded && trusted(request.socket.remoteAddress ?? '', 0))
        return lastEntry(forwarded)
      return request.headers.host ?? ''
    },
  }
}

type TrustProxy = Exclude<FastifyServerOptions['trustProxy'], undefined | false>

function trustFunction(trustProxy: TrustProxy): (address: string, hop: number) => boolean {
  if (typeof trustProxy === 'function') return trustProxy
  if (trustProxy === true) return () => true
  // Fastify fails closed on a hop count: it cannot tell whether the nearest peer is a proxy.
  if (typeof trustProxy === 'number') return () => false
  if (typeof trustProxy === 'string') return proxyAddr.compile(trustProxy.split(',').map((it) => it.trim()))
  return proxyAddr.compile(trustProxy)
}

/** A header sent more than once: the last value, the one the nearest proxy added. */
function lastEntry(value: string): string {
  const comma = value.lastIndexOf(',')
  return comma === -1 ? value.trim() : value.slice(comma + 1).trim()
}

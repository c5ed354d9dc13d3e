import { isIP } from 'node:net'
import { TicksError } from '@ticks/core'

export interface LoopbackTarget {
  host: string
  port: number
}

/**
 * The chaos proxy must never become a way to reach other machines: it forwards to loopback only.
 * Accepts `ws://127.0.0.1:8080`, `http://localhost:8080/…`, `127.0.0.1:8080`, a port number, or
 * `{ host, port }`.
 */
export function loopbackTarget(target: string | number | LoopbackTarget): LoopbackTarget {
  let host: string
  let port: number
  if (typeof target === 'number') {
    host = '127.0.0.1'
    port = target
  } else if (typeof target === 'string') {
    const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(target) ? target : `tcp://${target}`)
    host = url.hostname.replace(/^\[|\]$/g, '')
    const defaultPort: Record<string, number> = { 'ws:': 80, 'http:': 80, 'wss:': 443, 'https:': 443 }
    port = url.port === '' ? (defaultPort[url.protocol] ?? Number.NaN) : Number(url.port)
  } else {
    host = target.host
    port = target.port
  }
  if (host === 'localhost') host = '127.0.0.1'
  const loopback = (isIP(host) === 4 && host.startsWith('127.')) || (isIP(host) === 6 && host === '::1')
  if (!loopback) {
    throw new TicksError(
      'invalid-argument',
      `chaos proxy: refusing target host ${JSON.stringify(host)}: only loopback targets (127.0.0.0/8, ::1, localhost) are allowed`,
    )
  }
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new TicksError(
      'invalid-argument',
      `chaos proxy: target ${JSON.stringify(target)} has no valid port`,
    )
  }
  return { host, port }
}

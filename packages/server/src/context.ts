import type { Authenticator } from './auth/authenticator.js'
import type { InboxHub } from './inbox/inbox-hub.js'
import type { ServerLimits } from './options.js'
import type { Metrics } from './plugins/metrics.js'
import type { Store } from './store/store.js'
import type { RoomRegistry } from './sync/rooms.js'

/** What the plugins share: built once by `createServer`, handed to each plugin as its options. */
export interface ServerContext {
  /** The store, publishing each committed summary to `inbox`. */
  store: Store
  rooms: RoomRegistry
  /** Who hears of summary changes: the inbox feeds of multiplexed sockets. */
  inbox: InboxHub
  auth: Authenticator
  metrics: Metrics
  limits: ServerLimits
  /** This node's id when it is one of several (DESIGN section 10). */
  nodeId?: string | undefined
  /** Open sockets, for the heartbeat, /api/state and shutdown. */
  sockets: Set<import('ws').WebSocket>
  /** Open sockets per user and per client address, for their caps. */
  socketsByUser: Map<string, number>
  socketsByIp: Map<string, number>
}

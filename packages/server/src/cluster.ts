import { hostname } from 'node:os'
import { randomId } from '@ticks/core'
import type { ServerOptions } from './options.js'
import { isPostgresUrl } from './plugins/store.js'
import { NoRelay } from './relay/no-relay.js'
import type { PubSub } from './relay/pubsub.js'
import { RedisPubSub } from './relay/redis-pubsub.js'
import type { RoomCluster, RoomLogger } from './sync/room.js'

/** This node's part in a deployment of several (DESIGN section 10), and how to let it go. */
export interface ClusterNode {
  cluster: RoomCluster
  relay: PubSub
  close(): Promise<void>
}

/**
 * Several nodes when the options ask for them (a Redis URL, a relay, or a node id); undefined for
 * a single node. Throws on a setup that cannot work: a store of this machine only (SQLite's file,
 * memory by name) cannot be shared, and dev-mode tokens are signed by a secret of each node.
 */
export async function openClusterNode(
  options: ServerOptions,
  log: RoomLogger,
): Promise<ClusterNode | undefined> {
  if (options.redis === undefined && options.relay === undefined && options.nodeId === undefined)
    return undefined
  const store = options.store
  if (store === undefined || (typeof store === 'string' && !isPostgresUrl(store))) {
    throw new Error('several nodes need a store they share: --store postgres://…')
  }
  if (options.jwtSecret === undefined && options.jwksUrl === undefined) {
    throw new Error('several nodes need --jwt-secret or --jwks-url (dev-mode tokens are signed per node)')
  }
  const nodeId = options.nodeId ?? `${hostname()}-${process.pid}-${randomId().slice(0, 4)}`
  const owned = options.relay === undefined
  const relay =
    options.relay ??
    (options.redis !== undefined ? await RedisPubSub.open({ url: options.redis, log }) : new NoRelay())
  log.info({ nodeId, relay: relay.constructor.name }, 'running as one of several nodes')
  return {
    cluster: { nodeId, relay, ...options.cluster },
    relay,
    close: async () => {
      if (owned) await relay.close()
    },
  }
}

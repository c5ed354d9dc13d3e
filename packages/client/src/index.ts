export { reconnectDelay } from './backoff.js'
export { type ClientOptions, createClient, type DeviceKey, type TicksClient } from './client.js'
export {
  type ConnectionOptions,
  type ConnectionState,
  type ConnectionStop,
  DEFAULT_CONNECTION_OPTIONS,
  INVALID_PAYLOAD_CODE,
  REFUSAL_CLOSE_CODES,
  TERMINAL_CLOSE_CODES,
} from './connection.js'
export {
  type HistoryPage,
  HistoryRequestError,
  HistoryUnreachableError,
  httpBases,
} from './history-api.js'
export {
  type HistoryCache,
  historyDatabaseName,
  indexedDbHistoryCache,
  memoryHistoryCache,
} from './history-cache.js'
export { Inbox, type InboxEntry } from './inbox.js'
export { indexedDbKeyStore, type KeyStore, keyDatabaseName, memoryKeyStore } from './key-store.js'
export { databaseName, LiveConversation } from './live-conversation.js'
export {
  COMPACT_AFTER_ENTRIES,
  type IndexedDbStoreOptions,
  indexedDbStore,
  type LocalStore,
  memoryOnlyStore,
} from './local-store.js'
export type { PresenceState } from './presence.js'
export { claimReplicaId, type ReplicaIdClaim } from './replica-id.js'
export type { SeqRange } from './seq-ranges.js'

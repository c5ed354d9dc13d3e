export { AuthError, type Authenticator, AuthUnavailableError } from './auth/authenticator.js'
export { type AuthOptions, createAuthenticator } from './auth/jwt.js'
export { createConversation, type NewConversation } from './conversations.js'
export {
  DEFAULT_SERVER_LIMITS,
  type PostgresOptions,
  type ServerLimits,
  type ServerOptions,
} from './options.js'
export { createServer, startServer } from './server.js'
export { MemoryStore } from './store/memory-store.js'
export {
  DEFAULT_POSTGRES_OPTIONS,
  POSTGRES_SCHEMA_VERSION,
  PostgresStore,
  type PostgresStoreOptions,
} from './store/postgres-store.js'
export { SqliteStore } from './store/sqlite-store.js'
export {
  type AnnouncementRecord,
  type AppendGuard,
  type Claim,
  ClaimConflictError,
  type ConversationSummary,
  type Fence,
  FencedError,
  type HistoryRecord,
  historyRecordOf,
  type Lease,
  type LogSize,
  MAX_ANNOUNCEMENTS_PAGE,
  MAX_HISTORY_PAGE,
  type QuarantinedEntry,
  SNAPSHOT_ENTRY,
  type Store,
  type StoredEntry,
} from './store/store.js'
export {
  type CompactionPolicy,
  type Connection,
  createRoom,
  DEFAULT_ROOM_LIMITS,
  type Peer,
  Room,
  RoomError,
  type RoomErrorCode,
  type RoomEvents,
  type RoomLimits,
  type RoomLogger,
  type RoomOptions,
} from './sync/room.js'
export { type RoomLease, RoomRegistry, type RoomRegistryOptions } from './sync/rooms.js'

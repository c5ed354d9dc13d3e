import rateLimit from '@fastify/rate-limit'
import {
  aggregateStatus,
  displayOrder,
  type Role,
  randomId,
  recipientStatus,
  type Status,
  TicksError,
} from '@ticks/core'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AUTH_UNAVAILABLE, AuthError, AuthUnavailableError, type Identity } from '../auth/authenticator.js'
import { bearerToken } from '../auth/jwt.js'
import type { ServerContext } from '../context.js'
import { createConversation } from '../conversations.js'
import { inboxEntry } from '../inbox/inbox-entry.js'
import { type AnnouncementRecord, MAX_ANNOUNCEMENTS_PAGE, MAX_HISTORY_PAGE } from '../store/store.js'
import { type Room, RoomError } from '../sync/room.js'
import { messageActionsPlugin } from './message-actions.js'

/** A failure that becomes `{ error: { code, message } }` with `status`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

/** As core's isValidId: `__proto__` would be a prototype, not a key, in the objects ids index. */
const ID = { type: 'string', pattern: '^[A-Za-z0-9._~@-]{1,128}$', not: { const: '__proto__' } } as const
const ROLE = { type: 'string', enum: ['owner', 'member', 'observer'] } as const
const MEMBERS = {
  anyOf: [
    { type: 'array', items: ID, maxItems: 1000 },
    { type: 'object', propertyNames: ID, additionalProperties: ROLE, maxProperties: 1000 },
  ],
} as const
const STATE_CACHE_MS = 5000
const DEFAULT_HISTORY_PAGE = 50
const DEFAULT_ANNOUNCEMENTS_PAGE = 20
/** Most messages one batch may send. */
const MAX_BATCH = 100
/** A page below a given `before` never changes: everything under it is sealed for good. */
const IMMUTABLE = 'private, max-age=31536000, immutable'
/** A sealed message as a history page serves it (the store's `HistoryRecord`). */
const HISTORY_RECORD = {
  type: 'object',
  required: ['seq', 'id', 'author', 'text', 'createdAt', 'to'],
  properties: {
    seq: { type: 'integer' },
    id: { type: 'string' },
    author: { type: 'string' },
    text: { type: 'string' },
    createdAt: { type: 'number' },
    to: { type: 'array', items: { type: 'string' } },
    replyTo: {
      type: 'object',
      required: ['id', 'author'],
      properties: { id: { type: 'string' }, author: { type: 'string' } },
    },
    mentions: { type: 'array', items: { type: 'string' } },
    deleted: { type: 'boolean' },
    // Sealed with the message (issue 16): recipients verify a paged-in message with it.
    signature: {
      type: 'object',
      required: ['key', 'sig'],
      properties: { key: { type: 'string' }, sig: { type: 'string' } },
    },
  },
} as const

interface MessageView {
  id: string
  author: string
  text: string
  createdAt: number
  seq: number | null
  status: Status
  receipts: Record<string, Status>
  /** Issue 17: what the message answers, who it mentions, reactions, its edit, its deletion. */
  replyTo?: { id: string; author: string }
  mentions?: string[]
  reactions?: Record<string, string[]>
  editedAt?: number
  deleted?: true
}

/** REST (DESIGN section 6): JSON, camelCase, bearer tokens, schemas on every body. */
export async function restPlugin(app: FastifyInstance, context: ServerContext): Promise<void> {
  const { auth, rooms, store, limits } = context
  // Per client address, before the token is even checked. Loopback is exempt: it is a proxy on
  // this machine (which, without `trustProxy`, would put every user in one bucket) or local tools.
  if (limits.restRequestsPerWindow > 0) {
    await app.register(rateLimit, {
      max: limits.restRequestsPerWindow,
      timeWindow: limits.restRateWindowMs,
      allowList: (request) => isLoopback(request.ip),
      errorResponseBuilder: (_request, { after }) =>
        new HttpError(429, 'rate-limited', `too many requests: retry in ${after}`),
    })
  }
  // Fastify parses text/plain into a string, which the schemas then refuse as "body must be
  // object" (400); a body in another media type is a 415.
  app.removeContentTypeParser('text/plain')

  const userOf = async (request: FastifyRequest): Promise<string> => (await identityOf(request)).userId
  const identityOf = async (request: FastifyRequest): Promise<Identity> => {
    try {
      return await auth.verify(bearerToken(request.headers.authorization))
    } catch (error) {
      if (error instanceof AuthUnavailableError) {
        request.log.warn(
          { err: error, statusCode: 503 },
          'cannot check a token: identity provider unavailable',
        )
        throw new HttpError(503, 'auth-unavailable', AUTH_UNAVAILABLE)
      }
      const reason = error instanceof AuthError ? error.message : 'invalid token'
      request.log.info({ reason, statusCode: 401 }, 'refused request: not authenticated')
      throw new HttpError(401, 'unauthorized', reason)
    }
  }

  /** Run `use` on the room of `id`, with the caller's role checked. */
  const withRoom = async <T>(id: string, use: (room: Room) => Promise<T>): Promise<T> => {
    let lease: Awaited<ReturnType<typeof rooms.acquire>>
    try {
      lease = await rooms.acquire(id)
    } catch (error) {
      if (error instanceof RoomError && error.code === 'not-found')
        throw new HttpError(404, 'not-found', 'no such conversation')
      if (error instanceof RoomError)
        throw new HttpError(503, 'unavailable', 'conversation unavailable, try again later')
      throw error
    }
    try {
      return await use(lease.room)
    } catch (error) {
      // The room closed or failed under the request (a restart, a store failure): retryable.
      if (error instanceof RoomError)
        throw new HttpError(503, 'unavailable', 'conversation unavailable, try again later')
      throw error
    } finally {
      lease.release()
    }
  }

  // Message actions (issue 17): reactions, edits, deletions for everyone, in a plugin of their own.
  await app.register(messageActionsPlugin, {
    userOf,
    withRoom,
    httpError: (status, code, message) => new HttpError(status, code, message),
  })

  // A probe must never be told to slow down.
  app.get('/healthz', { config: { rateLimit: false } }, async () => ({ status: 'ok' }))

  if (auth.issue) {
    const issue = auth.issue
    app.log.warn(
      auth.mode === 'dev'
        ? 'DEV MODE: no --jwt-secret or --jwks-url given; anyone can get a token for any user via POST /api/session'
        : 'DEV SESSIONS (--dev-sessions): anyone who reaches this server can get a token for any user via POST /api/session, signed with the --jwt-secret and valid on every node sharing it; for trying things locally only',
    )
    // `admin: true` asks for a token that may post announcements: dev mode only, as any token here.
    app.post<{ Body: { userId: string; admin?: boolean } }>(
      '/api/session',
      {
        schema: {
          body: {
            type: 'object',
            required: ['userId'],
            additionalProperties: false,
            properties: { userId: ID, admin: { type: 'boolean' } },
          },
        },
      },
      async (request) => ({
        token: await issue(request.body.userId, { admin: request.body.admin === true }),
        userId: request.body.userId,
      }),
    )
  }

  app.post<{ Body: { title: string; members: string[] | Record<string, Role> } }>(
    '/api/conversations',
    {
      schema: {
        body: {
          type: 'object',
          required: ['title', 'members'],
          additionalProperties: false,
          properties: { title: { type: 'string', maxLength: 200 }, members: MEMBERS },
        },
      },
    },
    async (request, reply) => {
      const userId = await userOf(request)
      const { title, members } = request.body
      const roles: Record<string, Role> = Array.isArray(members)
        ? Object.fromEntries(members.map((member) => [member, 'member' as const]))
        : { ...members }
      roles[userId] = 'owner' // the creator owns it, whatever the list said
      const id = await createConversation(store, { title, members: roles })
      request.log.info({ conversationId: id, userId }, 'conversation created')
      return reply.code(201).send({ id })
    },
  )

  app.get('/api/conversations', async (request) => {
    const userId = await userOf(request)
    const summaries = await store.listConversations(userId)
    return { conversations: summaries.map((summary) => inboxEntry(summary, userId)) }
  })

  app.get<{ Params: { id: string } }>(
    '/api/conversations/:id',
    { schema: { params: { type: 'object', properties: { id: ID } } } },
    async (request) => {
      const userId = await userOf(request)
      return withRoom(request.params.id, async (room) => {
        // Never show a stamp the store does not hold yet.
        await room.whenDurable()
        if (!room.index.members.has(userId)) throw new HttpError(403, 'forbidden', 'not a member')
        return {
          id: room.id,
          title: room.index.title,
          members: Object.fromEntries(room.index.members),
          messages: messagesOf(room),
        }
      })
    },
  )

  // Sealed history, newest page first (DESIGN section 12): a member pages back from the window.
  app.get<{ Params: { id: string }; Querystring: { before?: number; limit?: number } }>(
    '/api/conversations/:id/history',
    {
      schema: {
        params: { type: 'object', properties: { id: ID } },
        querystring: {
          type: 'object',
          properties: {
            before: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
            limit: { type: 'integer', minimum: 1, maximum: MAX_HISTORY_PAGE },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['messages', 'sealedThrough'],
            properties: {
              messages: { type: 'array', items: HISTORY_RECORD },
              sealedThrough: { type: 'integer' },
            },
          },
        },
      },
    },
    async (request, reply) => {
      const userId = await userOf(request)
      const { id } = request.params
      const sealedThrough = await withRoom(id, async (room) => {
        if (!room.index.members.has(userId)) throw new HttpError(403, 'forbidden', 'not a member')
        return room.index.sealedThrough
      })
      const asked = request.query.before
      const before = Math.min(asked ?? sealedThrough + 1, sealedThrough + 1)
      const limit = request.query.limit ?? DEFAULT_HISTORY_PAGE
      // Without `before` the same URL names a later page once more is sealed: revalidate it.
      reply.header(
        'cache-control',
        asked !== undefined && asked <= sealedThrough + 1 ? IMMUTABLE : 'no-cache',
      )
      const etag = `"${before}.${limit}"`
      reply.header('etag', etag)
      if (request.headers['if-none-match'] === etag) return reply.code(304).send()
      return { messages: await store.history(id, before, limit), sealedThrough }
    },
  )

  // Announcements (issue 16): an admin token posts a system message into one conversation, or
  // into every one. Each is sequenced and stored like any message, in its own conversation.
  app.post<{ Body: { text: string; conversationId?: string } }>(
    '/api/announcements',
    {
      schema: {
        body: {
          type: 'object',
          required: ['text'],
          additionalProperties: false,
          properties: { text: { type: 'string', minLength: 1 }, conversationId: ID },
        },
      },
    },
    async (request, reply) => {
      const { userId, admin } = await identityOf(request)
      if (!admin) throw new HttpError(403, 'not-admin', 'announcements need an admin token')
      const { text, conversationId } = request.body
      const targets = conversationId !== undefined ? [conversationId] : await store.conversationIds()
      const announced: { conversationId: string; id?: string; seq?: number; error?: string }[] = []
      for (const target of targets) {
        try {
          const sent = await withRoom(target, (room) => room.announce(text))
          announced.push({ conversationId: target, id: sent.id, seq: sent.seq })
        } catch (error) {
          // One conversation is the request's to fail (404, 413); of many, each answers for itself.
          if (conversationId !== undefined) throw error
          announced.push({ conversationId: target, error: describeError(error).code })
        }
      }
      const record: AnnouncementRecord = {
        id: randomId(),
        text,
        postedBy: userId,
        postedAt: Date.now(),
        conversationId: conversationId ?? null,
        delivered: announced.filter((one) => one.error === undefined).length,
        failed: announced.filter((one) => one.error !== undefined).length,
      }
      try {
        await store.recordAnnouncement(record)
      } catch (error) {
        // The messages are out: failing the request now would only make the admin post them twice.
        request.log.error(
          { err: error, announcement: record.id },
          'could not record an announcement for /admin',
        )
      }
      request.log.info(
        { admin: userId, announcement: record.id, conversations: announced.length },
        'announcement posted',
      )
      return reply.code(201).send({ id: record.id, announcements: announced })
    },
  )

  // What admins announced, newest first, from the store's record of them: no conversation is loaded.
  app.get<{ Querystring: { limit?: number } }>(
    '/api/announcements',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { limit: { type: 'integer', minimum: 1, maximum: MAX_ANNOUNCEMENTS_PAGE } },
        },
      },
    },
    async (request) => {
      const { admin } = await identityOf(request)
      if (!admin) throw new HttpError(403, 'not-admin', 'announcements need an admin token')
      return {
        announcements: await store.recentAnnouncements(request.query.limit ?? DEFAULT_ANNOUNCEMENTS_PAGE),
      }
    },
  )

  // One message (`{ text }`), or a batch (`{ messages: [{ text }], correlationId? }`) stored and
  // stamped all together or not at all. One schema rather than oneOf: Fastify's Ajv strips
  // unknown properties while it tries each branch, which makes oneOf refuse valid bodies.
  app.post<{
    Params: { id: string }
    Body: { text?: string; messages?: { text: string }[]; correlationId?: string; replyTo?: string }
  }>(
    '/api/conversations/:id/messages',
    {
      schema: {
        params: { type: 'object', properties: { id: ID } },
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            text: { type: 'string', minLength: 1 },
            messages: {
              type: 'array',
              minItems: 1,
              maxItems: MAX_BATCH,
              items: {
                type: 'object',
                required: ['text'],
                additionalProperties: false,
                properties: { text: { type: 'string', minLength: 1 } },
              },
            },
            correlationId: { type: 'string', pattern: '^[A-Za-z0-9._~:@-]{1,128}$' },
            // The message this one answers (issue 17); every message of a batch answers it.
            replyTo: ID,
          },
        },
      },
    },
    async (request, reply) => {
      const { text, messages, correlationId, replyTo } = request.body
      if ((text === undefined) === (messages === undefined)) {
        throw new HttpError(400, 'bad-request', 'give either text or messages')
      }
      if (text !== undefined && correlationId !== undefined) {
        throw new HttpError(400, 'bad-request', 'correlationId goes with a batch (messages)')
      }
      const userId = await userOf(request)
      const texts = messages?.map((message) => message.text) ?? [text!]
      const sent = await withRoom(request.params.id, async (room) => {
        if (!room.index.members.has(userId)) throw new HttpError(403, 'forbidden', 'not a member')
        try {
          return await room.sendManyAs(userId, texts, replyTo === undefined ? {} : { replyTo })
        } catch (error) {
          if (error instanceof TicksError && error.code === 'unknown-message')
            throw new HttpError(404, error.code, error.message)
          if (error instanceof TicksError && error.code === 'deleted')
            throw new HttpError(409, error.code, error.message)
          throw error
        }
      })
      const views = sent.map((message, i) => ({
        ...message,
        author: userId,
        text: texts[i]!,
        status: 'sent',
      }))
      if (messages === undefined) return reply.code(201).send(views[0])
      // The correlation id ties this batch to the caller's own logs; never the texts.
      request.log.info(
        { correlationId, messages: views.length, conversation: request.params.id },
        'batch stored',
      )
      return reply.code(201).send({ ...(correlationId !== undefined && { correlationId }), messages: views })
    },
  )

  let stateCache: { at: number; body: unknown } | undefined
  app.get('/api/state', async (request) => {
    await userOf(request)
    if (stateCache && Date.now() - stateCache.at < STATE_CACHE_MS) return stateCache.body
    const byStatus: Record<Status, number> = { pending: 0, sent: 0, delivered: 0, read: 0, failed: 0 }
    const open = rooms.openRooms()
    for (const room of open) for (const message of messagesOf(room)) byStatus[message.status]++
    const body = {
      // Per node: with several, each answers for the rooms it holds (and says which it stamps).
      ...(context.nodeId !== undefined && {
        node: context.nodeId,
        sequencing: open.filter((room) => room.isSequencer).length,
      }),
      rooms: open.length,
      connections: context.sockets.size,
      messages: byStatus,
      at: new Date().toISOString(),
    }
    stateCache = { at: Date.now(), body }
    return body
  })
}

const isLoopback = (ip: string): boolean =>
  ip === '::1' || ip.startsWith('127.') || ip.startsWith('::ffff:127.')

function messagesOf(room: Room): MessageView[] {
  const { index } = room
  return displayOrder(index).map(({ record, author, seq, deleted }) => {
    const receipts: Record<string, Status> = {}
    for (const user of record.to) receipts[user] = recipientStatus(seq, index.watermarkOf(user))
    const edit = deleted ? undefined : index.actions.editOf(author, record.id)
    const reactions = deleted ? undefined : index.actions.reactionsOf(record.id)
    return {
      id: record.id,
      author,
      text: edit?.text ?? record.text,
      ...(record.replyTo && { replyTo: record.replyTo }),
      ...(record.mentions && { mentions: record.mentions }),
      ...(reactions && { reactions }),
      ...(edit && { editedAt: edit.editedAt }),
      ...(deleted && { deleted }),
      createdAt: record.createdAt,
      seq: seq ?? null,
      status: aggregateStatus(
        seq,
        record.to.map((user) => index.watermarkOf(user)),
      ),
      receipts,
    }
  })
}

/** Every error as `{ error: { code, message } }` (the root error handler, set by createServer). */
export function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const { status, code, message } = describeError(error)
  if (status >= 500) request.log.error({ err: error }, 'request failed')
  return reply.code(status).send({ error: { code, message } })
}

function describeError(error: unknown): { status: number; code: string; message: string } {
  if (error instanceof HttpError) return { status: error.status, code: error.code, message: error.message }
  if (error instanceof TicksError) {
    const status =
      error.code === 'text-too-long'
        ? 413
        : error.code === 'not-a-member' || error.code === 'read-only'
          ? 403
          : 400
    return { status, code: error.code, message: error.message }
  }
  const fastifyError = error as { validation?: unknown; statusCode?: number; code?: string; message?: string }
  if (fastifyError.validation)
    return { status: 400, code: 'bad-request', message: fastifyError.message ?? 'bad request' }
  const statusCode = fastifyError.statusCode
  if (statusCode === 413) return { status: 413, code: 'too-large', message: 'request body too large' }
  if (statusCode === 415)
    return { status: 415, code: 'unsupported-media-type', message: 'send the body as application/json' }
  if (statusCode === 429) return { status: 429, code: 'rate-limited', message: 'too many requests' }
  if (statusCode && statusCode >= 400 && statusCode < 500)
    return { status: statusCode, code: 'bad-request', message: fastifyError.message ?? 'bad request' }
  return { status: 500, code: 'internal', message: 'internal error' }
}

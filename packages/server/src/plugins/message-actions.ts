import {
  addReaction,
  deleteForEveryone,
  editMessage,
  removeReaction,
  TicksError,
  type TicksErrorCode,
} from '@ticks/core'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Room } from '../sync/room.js'

/** What the actions routes borrow from the REST plugin: who is asking, and a room to act in. */
export interface MessageActionsOptions {
  userOf: (request: FastifyRequest) => Promise<string>
  withRoom: <T>(id: string, use: (room: Room) => Promise<T>) => Promise<T>
  /** The REST plugin's error type, so refusals render as `{ error: { code, message } }`. */
  httpError: (status: number, code: string, message: string) => Error
}

/** As core's isValidId (see rest.ts). */
const ID = { type: 'string', pattern: '^[A-Za-z0-9._~@-]{1,128}$', not: { const: '__proto__' } } as const
const MESSAGE_PARAMS = {
  type: 'object',
  required: ['id', 'messageId'],
  properties: { id: ID, messageId: ID },
} as const
const REACTION_PARAMS = {
  type: 'object',
  required: ['id', 'messageId', 'emoji'],
  // Core checks the emoji (32 UTF-8 bytes, no whitespace); this only bounds what reaches it.
  properties: { id: ID, messageId: ID, emoji: { type: 'string', minLength: 1, maxLength: 64 } },
} as const

/** The HTTP status of each refusal of a message action. */
const STATUS: Partial<Record<TicksErrorCode, number>> = {
  'not-a-member': 403,
  'read-only': 403,
  'not-owner': 403,
  'unknown-message': 404,
  deleted: 409,
  'too-many-reactions': 409,
  'rate-limited': 429,
  'text-too-long': 413,
}

/**
 * Message actions over REST (issue 17), acting as the token's user through the room, like the
 * server-side send: react, unreact, edit, delete for everyone. Core checks each as the write rules
 * would (author only, not deleted, bounded), so a refusal writes nothing.
 */
export async function messageActionsPlugin(
  app: FastifyInstance,
  options: MessageActionsOptions,
): Promise<void> {
  const { userOf, withRoom, httpError } = options

  /** Run an action as the user in the conversation; core's refusals become HTTP errors. */
  const act = async <T>(
    request: FastifyRequest<{ Params: { id: string; messageId: string } }>,
    action: (room: Room, userId: string) => Promise<T>,
  ): Promise<T> => {
    const userId = await userOf(request)
    return withRoom(request.params.id, async (room) => {
      if (!room.index.members.has(userId)) throw httpError(403, 'forbidden', 'not a member')
      try {
        return await action(room, userId)
      } catch (error) {
        if (error instanceof TicksError) throw httpError(STATUS[error.code] ?? 400, error.code, error.message)
        throw error
      }
    })
  }

  const reactionsOf = (room: Room, messageId: string) => room.index.actions.reactionsOf(messageId) ?? {}

  app.put<{ Params: { id: string; messageId: string; emoji: string } }>(
    '/api/conversations/:id/messages/:messageId/reactions/:emoji',
    { schema: { params: REACTION_PARAMS } },
    (request) =>
      act(request, async (room, userId) => {
        const { messageId, emoji } = request.params
        const added = await room.actAs(userId, messageId, (context) => addReaction(context, messageId, emoji))
        return { id: messageId, added, reactions: reactionsOf(room, messageId) }
      }),
  )

  app.delete<{ Params: { id: string; messageId: string; emoji: string } }>(
    '/api/conversations/:id/messages/:messageId/reactions/:emoji',
    { schema: { params: REACTION_PARAMS } },
    (request) =>
      act(request, async (room, userId) => {
        const { messageId, emoji } = request.params
        const removed = await room.actAs(userId, messageId, (context) =>
          removeReaction(context, messageId, emoji),
        )
        return { id: messageId, removed, reactions: reactionsOf(room, messageId) }
      }),
  )

  app.patch<{ Params: { id: string; messageId: string }; Body: { text: string } }>(
    '/api/conversations/:id/messages/:messageId',
    {
      schema: {
        params: MESSAGE_PARAMS,
        body: {
          type: 'object',
          required: ['text'],
          additionalProperties: false,
          properties: { text: { type: 'string', minLength: 1 } },
        },
      },
    },
    (request) =>
      act(request, async (room, userId) => {
        const { messageId } = request.params
        const edit = await room.actAs(
          userId,
          messageId,
          (context) => editMessage(context, messageId, request.body.text),
          { edits: 1 },
        )
        return {
          id: messageId,
          text: edit.text,
          editedAt: edit.editedAt,
          seq: room.index.seqOf(messageId) ?? null,
        }
      }),
  )

  app.delete<{ Params: { id: string; messageId: string } }>(
    '/api/conversations/:id/messages/:messageId',
    { schema: { params: MESSAGE_PARAMS } },
    (request) =>
      act(request, async (room, userId) => {
        const { messageId } = request.params
        const marker = await room.actAs(userId, messageId, (context) => deleteForEveryone(context, messageId))
        return {
          id: messageId,
          deleted: true,
          deletedAt: marker.deletedAt,
          seq: room.index.seqOf(messageId) ?? null,
        }
      }),
  )
}

import {
  isValidId,
  type MuxFrame,
  MuxFrameError,
  readMuxFrame,
  writeMuxInbox,
  writeMuxMessage,
  writeMuxRefused,
} from '@ticks/core'
import type { WebSocket } from 'ws'
import type { ServerContext } from '../context.js'
import { openInboxFeed } from '../inbox/inbox-feed.js'
import { isSyncStep2 } from '../sync/protocol.js'
import { RateLimiter } from '../sync/rate-limiter.js'
import type { Connection } from '../sync/room.js'
import type { RoomLease } from '../sync/rooms.js'
import type { SocketRequest } from './raw-upgrade.js'
import { openSocketLink, roomErrorClose } from './socket-link.js'

/** One conversation joined on a multiplexed socket. */
interface Joined {
  connection: Connection | null
  lease: RoomLease | null
  /** Frames that came while its room loads (bounded like a socket's early frames). */
  early: Uint8Array[]
  earlyBytes: number
  ended: boolean
}

/**
 * `/sync` without an id: many conversations over one socket (DESIGN section 11; the frame format is
 * in `@ticks/core` mux-frames.ts and the server README). Each joined conversation is its own connection to
 * its room, exactly as a `/sync/<id>` socket would be — membership checked when joined, its own
 * rate limit, the same write rules — and what would close such a socket ends only that
 * conversation here, with a refusal frame; the socket and its other conversations go on.
 */
export function attachMultiplexed(context: ServerContext, socket: WebSocket, request: SocketRequest): void {
  const { link, user } = openSocketLink(context, socket, request, request.log.child({ multiplexed: true }))
  const joined = new Map<string, Joined>()
  // Joining loads a room: a socket may not make the server load conversations as fast as it can send.
  const joins = new RateLimiter(context.limits.joinsPerSecond, context.limits.joinBurst)
  let inbox: { close(): void } | undefined
  link.onGone(() => {
    for (const entry of joined.values()) end(entry)
    joined.clear()
    inbox?.close()
  })

  const end = (entry: Joined) => {
    entry.ended = true
    entry.early = []
    entry.connection?.disconnect()
    entry.lease?.release()
  }
  /** End one conversation on this socket and tell the client why (unless the socket is gone). */
  const refuse = (conversationId: string, code: number, reason: string) => {
    const entry = joined.get(conversationId)
    if (entry) {
      joined.delete(conversationId)
      end(entry)
    }
    link.send(writeMuxRefused(conversationId, code, reason), false)
  }
  const refuseCounted = (conversationId: string, code: number, label: string, reason: string) => {
    context.metrics.roomEvents.refused(code, label)
    link.log.info({ conversationId, code, reason }, 'refused a conversation on a multiplexed socket')
    refuse(conversationId, code, reason)
  }

  void user.then((userId) => {
    if (userId === undefined) return
    link.log.info({ userId }, 'multiplexed socket connected')
    link.start((frame) => {
      let message: MuxFrame
      try {
        message = readMuxFrame(frame)
      } catch (error) {
        const reason = error instanceof MuxFrameError ? error.message : 'malformed frame'
        return link.refuse(4400, 'malformed', reason)
      }
      const { conversationId, body } = message
      switch (body.type) {
        case 'join':
          return join(userId, conversationId)
        case 'leave': {
          const entry = joined.get(conversationId)
          if (entry) {
            joined.delete(conversationId)
            end(entry)
          }
          return
        }
        case 'inbox-subscribe':
          if (conversationId !== '')
            return link.refuse(4400, 'malformed', 'the inbox has the empty conversation id')
          inbox ??= openInboxFeed({
            store: context.store,
            hub: context.inbox,
            userId,
            send: (message) => link.send(writeMuxInbox(JSON.stringify(message)), false),
            onError: (error) => {
              // The list could not be read (the store is down): the client subscribes again later.
              link.log.warn({ err: error }, 'inbox: could not list conversations')
              link.close(1011, 'inbox unavailable, reconnect')
            },
          })
          return
        case 'refused':
        case 'inbox':
          return link.refuse(
            4400,
            'malformed',
            'refusals and inbox messages go from the server to the client',
          )
        case 'message':
          return route(conversationId, body.frame)
      }
    })
  })

  const join = (userId: string, conversationId: string) => {
    if (joined.has(conversationId)) return // joined already: a repeat changes nothing
    if (!isValidId(conversationId))
      return refuseCounted(conversationId.slice(0, 128), 4400, 'malformed', 'invalid conversation id')
    if (joined.size >= context.limits.maxConversationsPerSocket) {
      return refuseCounted(
        conversationId,
        4429,
        'too-many-conversations',
        `at most ${context.limits.maxConversationsPerSocket} conversations per socket`,
      )
    }
    if (!joins.take()) return refuseCounted(conversationId, 4429, 'rate-limited', 'joining too fast')
    const entry: Joined = { connection: null, lease: null, early: [], earlyBytes: 0, ended: false }
    joined.set(conversationId, entry)
    context.rooms.acquire(conversationId).then(
      (lease) => {
        if (entry.ended) {
          lease.release()
          return
        }
        entry.lease = lease
        const connection = lease.room.connect({
          userId,
          // The room's lines about this peer carry the socket's request id.
          log: link.log,
          send: (frame) => link.send(writeMuxMessage(conversationId, frame), isSyncStep2(frame)),
          // The room counted and logged its own refusal; here it only ends this conversation.
          close: (code, reason) => {
            if (joined.get(conversationId) === entry) refuse(conversationId, code, reason)
          },
        })
        if (entry.ended) return // refused at once (not a member)
        entry.connection = connection
        for (const frame of entry.early.splice(0)) {
          if (entry.ended) return
          connection.receive(frame)
        }
      },
      (error: unknown) => {
        if (entry.ended) return
        const { code, reason, label } = roomErrorClose(error, link.log)
        if (code !== 1012) context.metrics.roomEvents.refused(code, label)
        refuse(conversationId, code, reason)
      },
    )
  }

  const route = (conversationId: string, frame: Uint8Array) => {
    // Not joined, or ended since (frames the client sent before it read the refusal): dropped.
    const entry = joined.get(conversationId)
    if (!entry) return
    if (entry.connection) return entry.connection.receive(frame)
    // Held while its room loads, within the same bounds as a socket's early frames.
    const { maxQueuedFrames, maxQueuedBytes, maxFrameBytes } = context.limits
    if (entry.early.length >= maxQueuedFrames)
      return refuseCounted(
        conversationId,
        4429,
        'queued-too-many',
        'too many frames before the conversation was ready',
      )
    if (frame.byteLength > maxFrameBytes)
      return refuseCounted(conversationId, 4413, 'queued-too-large', `frame exceeds ${maxFrameBytes} bytes`)
    entry.earlyBytes += frame.byteLength
    if (entry.earlyBytes > maxQueuedBytes)
      return refuseCounted(
        conversationId,
        4413,
        'queued-too-large',
        'too much data before the conversation was ready',
      )
    entry.early.push(frame)
  }
}

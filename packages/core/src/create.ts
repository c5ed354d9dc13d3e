import * as Y from 'yjs'
import { META_ROOT, memberKey, type Role, TITLE_KEY } from './schema.js'

export interface ConversationSetup {
  title: string
  members: Record<string, Role>
  now?: number
}

/**
 * Write a new conversation's meta (title, members). Done by whoever creates the conversation, in
 * practice the server on `POST /api/conversations`.
 */
export function initConversation(doc: Y.Doc, setup: ConversationSetup, origin?: unknown): void {
  const joinedAt = setup.now ?? Date.now()
  doc.transact(() => {
    const meta = doc.getMap(META_ROOT)
    meta.set(TITLE_KEY, setup.title)
    for (const [userId, role] of Object.entries(setup.members))
      meta.set(memberKey(userId), { role, joinedAt })
  }, origin)
}

export const newConversationDoc = (id: string): Y.Doc => new Y.Doc({ guid: id })

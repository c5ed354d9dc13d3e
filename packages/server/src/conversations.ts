import { ConversationIndex, initConversation, type Role, randomId } from '@ticks/core'
import * as Y from 'yjs'
import type { Store } from './store/store.js'
import { summarize } from './sync/summary.js'

export interface NewConversation {
  title: string
  members: Record<string, Role>
  /** Defaults to a fresh random id. */
  id?: string
}

/** Write a new conversation (its meta: title and members) to the store; returns its id. */
export async function createConversation(store: Store, setup: NewConversation): Promise<string> {
  const id = setup.id ?? randomId()
  const doc = new Y.Doc({ guid: id })
  try {
    initConversation(doc, { title: setup.title, members: setup.members })
    const index = new ConversationIndex(doc)
    await store.append(id, [Y.encodeStateAsUpdate(doc)], summarize(index, Date.now()))
    index.destroy()
  } finally {
    doc.destroy()
  }
  return id
}

import type { Store } from '../store/store.js'
import type { InboxHub } from './inbox-hub.js'

/**
 * The store every writer of this server uses (rooms, REST): after an append that carries a summary
 * has committed, the summary goes to the inbox hub. Only then: a feed never shows what a crash
 * could still take back.
 */
export function publishingSummaries(store: Store, hub: InboxHub): Store {
  return new Proxy(store, {
    get(target, key, receiver) {
      if (key !== 'append') {
        const value = Reflect.get(target, key, receiver)
        return typeof value === 'function' ? value.bind(target) : value
      }
      const append: Store['append'] = async (docId, updates, summary, guard) => {
        const size = await target.append(docId, updates, summary, guard)
        if (summary) hub.publish(summary)
        return size
      }
      return append
    },
  })
}

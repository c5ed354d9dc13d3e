import type { LiveConversation } from '@ticks/client'
import type { VerifiableMessage, Verification } from '@ticks/core'
import { batch, untrack } from 'solid-js'
import { createStore } from 'solid-js/store'

export interface VerificationState {
  /**
   * Whether `message` is its author's (signed messages, DESIGN section 13); reactive. Only the
   * messages something reads this for are verified (the bubbles on screen), each once and then
   * from the cache, so verification costs nothing the reader could notice.
   */
  verification(message: VerifiableMessage): Verification
  stop(): void
}

/** Verification answers as Solid state: an answer that changes re-renders the bubble that read it. */
export function createVerification(
  conversation: Pick<LiveConversation, 'verification' | 'onVerification'>,
): VerificationState {
  const [answers, setAnswers] = createStore<Record<string, Verification>>({})
  /** What each watched message looked like when last read (its text may change: an edit). */
  const watched = new Map<string, VerifiableMessage>()
  const stop = conversation.onVerification(() =>
    batch(() => {
      for (const [id, message] of watched) {
        const answer = conversation.verification(message)
        if (answers[id] !== answer) setAnswers(id, answer)
      }
    }),
  )
  return {
    verification(message) {
      // Read field by field: a store-backed message makes this reader follow exactly these.
      const { id, author, text, createdAt, announcement } = message
      const seen: VerifiableMessage = announcement
        ? { id, author, text, createdAt, announcement }
        : { id, author, text, createdAt }
      // An edited message is answered from its latest edit's signature (issue 17).
      const editedAt = message.edited?.at
      if (editedAt !== undefined) seen.edited = { at: editedAt }
      watched.set(id, seen)
      const answer = conversation.verification(seen)
      untrack(() => {
        if (answers[id] !== answer) setAnswers(id, answer)
      })
      return answers[id] ?? answer
    },
    stop,
  }
}

import { Conversation, type Message, type SendOptions } from '@ticks/core'

/**
 * Send through a conversation whose `send(text)` override may not pass core's `SendOptions` on:
 * `@ticks/client`'s `LiveConversation.send` predates issue 17 and calls `super.send(text)`, so a
 * reply's `replyTo` would be dropped. For this one synchronous call core's `send` receives the
 * options whatever the override passes; the override still runs (it signs the message and notes
 * the outbox), and the prototype is restored before anything else can run. Delete this module once
 * the client forwards the options itself.
 */
export function sendWithOptions(conversation: Conversation, text: string, options: SendOptions): Message {
  const prototype = Conversation.prototype
  const coreSend = prototype.send
  prototype.send = function (this: Conversation, sentText: string, given?: SendOptions) {
    return coreSend.call(this, sentText, { ...options, ...given })
  }
  try {
    return conversation.send(text, options)
  } finally {
    prototype.send = coreSend
  }
}

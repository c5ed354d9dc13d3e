import { TicksError } from '@ticks/core'

/** What the user was doing when the model refused: the words of the message change with it. */
export type ChatAction = 'send' | 'reply' | 'edit' | 'react' | 'delete'

const FAILED: Record<ChatAction, string> = {
  send: 'Could not send',
  reply: 'Could not send the reply',
  edit: 'Could not save the edit',
  react: 'Could not react',
  delete: 'Could not delete the message',
}

/** By name too: a second copy of @ticks/core in a bundle would fail `instanceof`. */
export const isTicksError = (cause: unknown): cause is TicksError =>
  cause instanceof TicksError || (cause as Error | undefined)?.name === 'TicksError'

/** A refusal from the model, in the words of the person typing: short, and what to do about it. */
export function actionErrorText(error: TicksError, action: ChatAction): string {
  switch (error.code) {
    case 'text-too-long':
      return action === 'edit'
        ? 'This text is too long. Shorten it to save the edit.'
        : 'This message is too long to send. Shorten it, or split it into several messages.'
    case 'not-synced':
      return 'This conversation has not loaded yet. Try again in a moment.'
    case 'not-a-member':
      return 'You are not a member of this conversation.'
    case 'read-only':
      return 'You can read this conversation but not write in it.'
    case 'closed':
      return 'This conversation was closed. Open it again to write.'
    case 'too-many-reactions':
      return `You already reacted to this message with as many emoji as it allows. ${error.message}.`
    case 'rate-limited':
      return action === 'edit'
        ? 'Too many edits in a minute. Wait a moment, then save again.'
        : 'Too many changes in a minute. Wait a moment, then try again.'
    case 'deleted':
      return action === 'reply'
        ? 'The message you are replying to was deleted. Send again to post it without the reply.'
        : 'That message was deleted.'
    case 'not-owner':
      return 'Only the author can change a message.'
    case 'unknown-message':
      return 'That message is no longer in this conversation.'
    default:
      return `${FAILED[action]}: ${error.message}`
  }
}

export { type ConversationState, createConversation } from './create-conversation.js'
export { createVerification, type VerificationState } from './create-verification.js'

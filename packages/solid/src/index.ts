export { type ConversationState, createConversation } from './create-conversation.js'

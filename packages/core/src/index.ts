export {
  type ActionContext,
  addReaction,
  deleteForEveryone,
  editMessage,
  mentionsIn,
  removeReaction,
  replyReference,
} from './actions.js'
export {
  clockProblem,
  documentProblem,
  isClientId,
  MAX_CLOCK,
  MAX_CLOCK_ADVANCE,
  stateVectorProblem,
  updateProblem,
} from './clocks.js'
export {
  Conversation,
  type ConversationOptions,
  type HistoryMessage,
  type Member,
  type Message,
  type SendOptions,
} from './conversation.js'
export { ConversationIndex, type IndexedMessage, type SealedMessage } from './conversation-index.js'
export { type ConversationSetup, initConversation, newConversationDoc } from './create.js'
export { TicksError, type TicksErrorCode } from './errors.js'
export { randomId } from './ids.js'
export { MessageActions } from './message-actions.js'
export { type SignableMessage, type SignOutcome, signEdit, signMessage } from './message-signer.js'
export {
  MessageVerifier,
  type MessageVerifierOptions,
  type VerifiableMessage,
  type Verification,
} from './message-verifier.js'
export {
  MUX_INBOX,
  MUX_INBOX_SUBSCRIBE,
  MUX_JOIN,
  MUX_LEAVE,
  MUX_REFUSED,
  type MuxBody,
  type MuxFrame,
  MuxFrameError,
  readMuxFrame,
  writeMuxInbox,
  writeMuxInboxSubscribe,
  writeMuxJoin,
  writeMuxLeave,
  writeMuxMessage,
  writeMuxRefused,
} from './mux-frames.js'
export { compareUnsequenced, displayOrder } from './order.js'
export { lastSeqOf, readOrderLogShape } from './order-log.js'
export { raiseWatermark, withClientId } from './receipts.js'
export {
  applyCheckedUpdate,
  type Claim,
  checkUpdate,
  REFUSAL_CLOSE_CODES,
  type RefusalCloseCode,
  type RefusalCode,
  type Verdict,
  type Writer,
} from './rules.js'
export * from './schema.js'
export { collectSealedEntries, compactSealedEntries } from './sealed-compaction.js'
export { orderLog, SEQUENCER_ORIGIN, sealThrough, stampUnsequenced } from './sequencer.js'
export {
  EDIT_SIGNATURE_KEY_PREFIX,
  type EditSignatureRecord,
  editSignatureKey,
  editSignatureRecordProblem,
  isEditSignatureRecord,
  isKeyRecord,
  isSignatureRecord,
  KEY_RECORD_PREFIX,
  type KeyRecord,
  keyRecordChangeProblem,
  keyRecordKey,
  keyRecordProblem,
  SIGNATURE_KEY_PREFIX,
  type SignatureRecord,
  signatureKey,
  signatureRecordProblem,
} from './signature-records.js'
export {
  encodeSignedPayload,
  generateSigningKey,
  type SignedPayload,
  type SigningKey,
  signedPayloadText,
  signPayload,
  verifyPayload,
} from './signatures.js'
export {
  deleteSignature,
  editSignatureEntryOf,
  publishedKey,
  publishedKeys,
  revokeKey,
  signatureEntryOf,
  signatureOfSealed,
  writeEditSignature,
  writeSignature,
} from './signed-entries.js'
export {
  aggregateStatus,
  dominates,
  joinWatermarks,
  type LatticeStatus,
  maxStatus,
  minStatus,
  NO_WATERMARK,
  recipientStatus,
  type Status,
  statusRank,
} from './status.js'

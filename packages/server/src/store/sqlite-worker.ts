import { parentPort, workerData } from 'node:worker_threads'
import { readAppendBatch } from './sqlite-append-codec.js'
import { SqliteLog } from './sqlite-log.js'
import type { SqliteReply, SqliteRequest } from './sqlite-store.js'
import type { StoredEntry } from './store.js'

/** The worker thread behind `SqliteStore`: runs each request on the database, in arrival order. */

const port = parentPort!
const log = new SqliteLog((workerData as { file: string }).file)

function run(request: SqliteRequest): unknown {
  switch (request.op) {
    case 'load':
      return log.load(request.docId)
    case 'loadSince':
      return log.loadSince(request.docId, request.afterEntry)
    case 'append':
      return log.appendBatch(readAppendBatch(request.batch))
    case 'compact':
      return log.compact(request.docId, request.snapshot, request.throughEntry)
    case 'quarantine':
      return log.quarantine(request.docId, request.entries)
    case 'listQuarantined':
      return log.listQuarantined(request.docId)
    case 'dropQuarantined':
      return log.dropQuarantined(request.quarantineId)
    case 'list':
      return log.listConversations(request.userId)
    case 'ids':
      return log.conversationIds()
    case 'recordAnnouncement':
      return log.recordAnnouncement(request.record)
    case 'recentAnnouncements':
      return log.recentAnnouncements(request.limit)
    case 'history':
      return log.history(request.docId, request.beforeSeq, request.limit)
    case 'redactHistory':
      return log.redactHistory(request.docId, request.ids)
    case 'sealedMessages':
      return log.sealedMessages(request.docId, request.ids)
    case 'acquireLease':
      return log.acquireLease(request.docId, request.nodeId, request.ttlMs)
    case 'renewLease':
      return log.renewLease(request.docId, request.nodeId, request.epoch, request.ttlMs)
    case 'releaseLease':
      return log.releaseLease(request.docId, request.nodeId, request.epoch)
    case 'close':
      return log.close()
  }
}

port.on('message', (request: SqliteRequest) => {
  let reply: SqliteReply
  let transfer: ArrayBuffer[] = []
  try {
    const value = run(request)
    reply = { id: request.id, ok: true, value }
    // Loaded updates are fresh copies: hand their memory over instead of cloning it again.
    if ((request.op === 'load' || request.op === 'loadSince') && value)
      transfer = (value as StoredEntry[]).map(({ update }) => update.buffer as ArrayBuffer)
  } catch (error) {
    const { message, code } = error as { message?: string; code?: string }
    reply = { id: request.id, ok: false, message: message ?? String(error), code }
  }
  port.postMessage(reply, transfer)
  if (request.op === 'close') port.close()
})

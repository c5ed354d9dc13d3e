/**
 * Group commit for a store's appends: requests of the same event-loop turn, or that arrive while a
 * transaction is on disk, wait and then share the next one, so the busier the server, the more
 * updates each fsync carries. Every caller still resolves only after its own transaction committed.
 * `commit` settles each request of a batch itself (one may be refused, e.g. fenced, and the others
 * not).
 */
export class GroupCommit<Request, Result> {
  private pending: PendingRequest<Request, Result>[] = []
  /** The transaction on disk now, if any: the next batch waits for it. */
  private inFlight: Promise<void> | undefined
  private flushScheduled = false

  constructor(
    private readonly commit: (batch: readonly PendingRequest<Request, Result>[]) => Promise<void>,
  ) {}

  add(request: Request): Promise<Result> {
    return new Promise((resolve, reject) => {
      this.pending.push({ request, resolve, reject })
      this.scheduleFlush()
    })
  }

  /** Resolves once every request added so far is committed (or refused): before closing a store. */
  async drain(): Promise<void> {
    while (this.inFlight || this.pending.length > 0) await (this.inFlight ?? this.flush())
  }

  private scheduleFlush(): void {
    if (this.inFlight || this.flushScheduled) return
    this.flushScheduled = true
    setImmediate(() => {
      this.flushScheduled = false
      void this.flush()
    })
  }

  private flush(): Promise<void> {
    if (this.inFlight || this.pending.length === 0) return this.inFlight ?? Promise.resolve()
    const batch = this.pending
    this.pending = []
    this.inFlight = this.commit(batch).finally(() => {
      this.inFlight = undefined
      if (this.pending.length > 0) this.scheduleFlush()
    })
    return this.inFlight
  }
}

export interface PendingRequest<Request, Result> {
  request: Request
  resolve: (result: Result) => void
  reject: (error: unknown) => void
}

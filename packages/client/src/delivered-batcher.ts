/**
 * Coalesces "remote messages were integrated" signals into one `markDelivered()` per burst: a
 * reconnect can integrate hundreds of messages across many socket frames, and each receipt raise
 * is an update every member downloads. One short timer per burst bounds that to one small update.
 */
export function createDeliveredBatcher(markDelivered: () => void, delayMs: number) {
  let timer: ReturnType<typeof setTimeout> | undefined
  return {
    schedule(): void {
      if (timer !== undefined) return
      timer = setTimeout(() => {
        timer = undefined
        markDelivered()
      }, delayMs)
    },
    cancel(): void {
      if (timer !== undefined) clearTimeout(timer)
      timer = undefined
    },
  }
}

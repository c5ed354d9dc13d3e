import { createSignal, onCleanup } from 'solid-js'

/**
 * Which messages are on screen right now: at least half visible inside the scroller, while the tab
 * is visible. Read receipts come only from here, so a message scrolled past in a background tab is
 * never reported read.
 */
export function createVisibleMessages(
  root: () => HTMLElement | undefined,
  options: { paused?: boolean } = {},
) {
  const [visible, setVisible] = createSignal<ReadonlySet<string>>(new Set())
  // Paused, elements are collected but not observed: what is on screen before the view has scrolled
  // to where it opens says nothing about what the reader saw.
  const [started, setStarted] = createSignal(!options.paused)
  const tracked = new Set<HTMLElement>()
  const [tabVisible, setTabVisible] = createSignal(document.visibilityState === 'visible')
  const onVisibility = () => setTabVisible(document.visibilityState === 'visible')
  document.addEventListener('visibilitychange', onVisibility)

  let observer: IntersectionObserver | undefined
  const ensureObserver = () => {
    if (observer || typeof IntersectionObserver === 'undefined') return observer
    observer = new IntersectionObserver(
      (entries) => {
        const next = new Set(visible())
        for (const entry of entries) {
          const id = (entry.target as HTMLElement).dataset.messageId
          if (!id) continue
          if (entry.isIntersecting && entry.intersectionRatio >= 0.5) next.add(id)
          else next.delete(id)
        }
        setVisible(next)
      },
      { root: root() ?? null, threshold: [0, 0.5, 1] },
    )
    return observer
  }

  onCleanup(() => {
    document.removeEventListener('visibilitychange', onVisibility)
    observer?.disconnect()
  })

  return {
    /** Ids on screen while the tab is visible; empty while it is hidden or paused. */
    onScreen: () => (started() && tabVisible() ? visible() : new Set<string>()),
    /** Start observing (once the view is at its opening position); the first report follows. */
    start() {
      if (started()) return
      setStarted(true)
      const io = ensureObserver()
      for (const element of tracked) io?.observe(element)
    },
    /** Watch an element carrying `data-message-id`; stops when its owner is cleaned up. */
    track(element: HTMLElement) {
      tracked.add(element)
      const io = ensureObserver()
      if (started()) io?.observe(element)
      onCleanup(() => {
        tracked.delete(element)
        io?.unobserve(element)
        const id = element.dataset.messageId
        if (id && visible().has(id)) {
          const next = new Set(visible())
          next.delete(id)
          setVisible(next)
        }
      })
    },
  }
}

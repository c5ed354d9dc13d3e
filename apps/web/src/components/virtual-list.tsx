import {
  batch,
  createEffect,
  createMemo,
  createSignal,
  For,
  type JSX,
  onCleanup,
  onMount,
  untrack,
} from 'solid-js'
import { rowAt, rowOffsets, rowsBetween } from '../chat/virtual-layout.js'

/** What the list keeps in place while rows are added, removed or measured. */
type Anchor =
  /** Nothing chosen yet: the top of the list. */
  | { kind: 'none' }
  /** Follow the end (a chat at its newest message). */
  | { kind: 'bottom' }
  /** This row's top stays `delta` pixels below the top of the viewport. */
  | { kind: 'row'; key: string; delta: number }

export interface VirtualListHandle {
  /** Put the row's top `margin` pixels below the top of the viewport; false if there is no such row. */
  scrollToKey(key: string, margin?: number): boolean
  /** Go to the end and stay there as rows are added or grow, until the reader scrolls away. */
  scrollToBottom(): void
}

export interface VirtualListProps<T> {
  /** The scrolling element this list sits in (its offset parent: `position: relative`). */
  scroller: () => HTMLElement | undefined
  items: readonly T[]
  key: (item: T) => string
  /** The height a row counts for until it has been measured. */
  estimatedHeight: number
  /** Pixels rendered beyond each edge of the viewport, so a fast scroll shows no blank. */
  overscan: number
  /** Within this distance of the end, the list follows the end. */
  bottomSlack: number
  /** Called whenever the viewport is within `nearTop` pixels of the top (to load older rows). */
  onNearTop?: () => void
  nearTop?: number
  handle?: (handle: VirtualListHandle) => void
  children: (item: T) => JSX.Element
}

/**
 * A list that renders only the rows in and near the viewport, so the DOM stays the same size
 * whatever the length. Rows may have any height: each is measured once rendered (ResizeObserver),
 * unmeasured ones count at an estimate, and the scroll position is corrected so that what the
 * reader looks at stays put while rows above it are inserted (older pages) or measured. The
 * browser's own scroll anchoring is off for the scroller (`overflow-anchor: none`): it would
 * compensate the same shifts a second time.
 */
export function VirtualList<T>(props: VirtualListProps<T>) {
  let container: HTMLDivElement | undefined
  const heights = new Map<string, number>()
  const renderedRows = new Map<string, HTMLElement>()
  const [measured, setMeasured] = createSignal(0)
  const [viewport, setViewport] = createSignal(0)
  const [anchor, setAnchor] = createSignal<Anchor>({ kind: 'none' })

  /** The list's top inside the scroller (what is above it: a header, the scroller's padding). */
  const base = () => container?.offsetTop ?? 0
  const scrolledTop = () => Math.max(0, (props.scroller()?.scrollTop ?? 0) - base())

  const keys = createMemo(() => props.items.map((item) => props.key(item)))
  const indexOf = createMemo(() => new Map(keys().map((key, i) => [key, i])))
  const offsets = createMemo(() => {
    measured()
    return rowOffsets(keys(), (key) => heights.get(key), props.estimatedHeight)
  })
  /** Where the viewport's top should be, in the list's own coordinates. */
  const viewTop = createMemo(() => {
    const all = offsets()
    const current = anchor()
    if (current.kind === 'bottom') return Math.max(0, all[all.length - 1]! - viewport())
    if (current.kind === 'row') {
      const index = indexOf().get(current.key)
      if (index !== undefined) return all[index]! - current.delta
    }
    return untrack(() => scrolledTop())
  })
  const range = createMemo(() =>
    rowsBetween(offsets(), viewTop() - props.overscan, viewTop() + viewport() + props.overscan),
  )
  const shown = createMemo(() => props.items.slice(range().start, range().end))
  const paddingTop = () => offsets()[range().start] ?? 0
  const paddingBottom = () => {
    const all = offsets()
    return all[all.length - 1]! - (all[range().end] ?? 0)
  }

  const nearTopCheck = (element: HTMLElement) => {
    if (element.scrollTop - base() <= (props.nearTop ?? 0)) props.onNearTop?.()
  }

  // After the rows and paddings are in the DOM: put the scroll position where the anchor says.
  createEffect(() => {
    const top = viewTop()
    const current = anchor()
    const element = props.scroller()
    if (!element) return
    if (current.kind === 'bottom') element.scrollTop = element.scrollHeight
    else if (current.kind === 'row') {
      // Rendered, the row is put back where the browser drew it relative to the viewport; the
      // estimates of rows still unmeasured around it would misplace it. Otherwise the model says.
      const box = renderedRows.get(current.key)?.getBoundingClientRect()
      const shift = box && box.height > 0 ? box.top - element.getBoundingClientRect().top - current.delta : 0
      const target = box && box.height > 0 ? element.scrollTop + shift : base() + top
      if (Math.abs(element.scrollTop - target) >= 1) element.scrollTop = target
    }
    nearTopCheck(element)
  })

  /**
   * The first row on screen, where the browser really drew it: a row rendered but not measured yet
   * sits elsewhere than its estimate says, and anchoring by the estimate would make it jump.
   */
  const rowOnScreen = (element: HTMLElement): Anchor | undefined => {
    const top = element.getBoundingClientRect().top
    for (const row of container?.children ?? []) {
      const box = row.getBoundingClientRect()
      if (box.height > 0 && box.bottom > top) {
        return { kind: 'row', key: (row as HTMLElement).dataset.key!, delta: box.top - top }
      }
    }
    return undefined
  }

  /** The reader scrolled (or we did): keep what is now at the top, or the end if they are there. */
  const onScroll = () => {
    const element = props.scroller()
    if (!element) return
    // One update: a new viewport height under the old anchor would scroll back to it first.
    batch(() => {
      setViewport(element.clientHeight)
      const atBottom = element.scrollHeight - element.scrollTop - element.clientHeight <= props.bottomSlack
      const all = offsets()
      if (atBottom) setAnchor({ kind: 'bottom' })
      else if (keys().length > 0) {
        const index = rowAt(all, element.scrollTop - base())
        setAnchor(
          rowOnScreen(element) ?? {
            kind: 'row',
            key: keys()[index]!,
            delta: base() + all[index]! - element.scrollTop,
          },
        )
      }
    })
    nearTopCheck(element)
  }

  const rows =
    typeof ResizeObserver === 'undefined'
      ? undefined
      : new ResizeObserver((entries) => {
          let changed = false
          for (const entry of entries) {
            const key = (entry.target as HTMLElement).dataset.key
            const height = entry.borderBoxSize?.[0]?.blockSize ?? entry.contentRect.height
            // A row not laid out (0) keeps its estimate rather than collapsing the list.
            if (!key || height <= 0 || Math.abs((heights.get(key) ?? -1) - height) < 0.5) continue
            heights.set(key, height)
            changed = true
          }
          if (changed) setMeasured((n) => n + 1)
        })
  const viewportObserver =
    typeof ResizeObserver === 'undefined'
      ? undefined
      : new ResizeObserver(() => setViewport(props.scroller()?.clientHeight ?? 0))

  onMount(() => {
    const element = props.scroller()
    if (!element) return
    setViewport(element.clientHeight)
    element.addEventListener('scroll', onScroll, { passive: true })
    viewportObserver?.observe(element)
    onCleanup(() => element.removeEventListener('scroll', onScroll))
  })
  onCleanup(() => {
    rows?.disconnect()
    viewportObserver?.disconnect()
  })

  props.handle?.({
    scrollToKey(key, margin = 0) {
      if (!untrack(indexOf).has(key)) return false
      setAnchor({ kind: 'row', key, delta: margin })
      return true
    },
    scrollToBottom() {
      setAnchor({ kind: 'bottom' })
    },
  })

  return (
    <div
      class="virtual-list"
      ref={container}
      style={{ 'padding-top': `${paddingTop()}px`, 'padding-bottom': `${paddingBottom()}px` }}
    >
      <For each={shown()}>
        {(item) => {
          const key = props.key(item)
          return (
            <div
              class="virtual-list__row"
              data-key={key}
              ref={(element) => {
                renderedRows.set(key, element)
                rows?.observe(element)
                onCleanup(() => {
                  if (renderedRows.get(key) === element) renderedRows.delete(key)
                  rows?.unobserve(element)
                })
              }}
            >
              {props.children(item)}
            </div>
          )
        }}
      </For>
    </div>
  )
}

import { cleanup, render } from '@solidjs/testing-library'
import { createSignal } from 'solid-js'
import { afterEach, describe, expect, it } from 'vitest'
import { rowAt, rowOffsets, rowsBetween } from '../src/chat/virtual-layout.js'
import { VirtualList, type VirtualListHandle } from '../src/components/virtual-list.js'

afterEach(cleanup)

describe('virtual layout', () => {
  it('places rows at their measured height, or the estimate, and finds the rows of a band', () => {
    const heights = new Map([
      ['b', 100],
      ['d', 10],
    ])
    const offsets = rowOffsets(['a', 'b', 'c', 'd'], (key) => heights.get(key), 50)
    expect(offsets).toEqual([0, 50, 150, 200, 210])
    expect(rowAt(offsets, 0)).toBe(0)
    expect(rowAt(offsets, 149)).toBe(1)
    expect(rowAt(offsets, 150)).toBe(2)
    expect(rowAt(offsets, 5000)).toBe(3)
    expect(rowsBetween(offsets, 60, 160)).toEqual({ start: 1, end: 3 })
    expect(rowsBetween(offsets, -100, 10)).toEqual({ start: 0, end: 1 })
    expect(rowsBetween([0], 0, 100)).toEqual({ start: 0, end: 0 })
  })
})

/**
 * jsdom lays nothing out: the scroller's size and scroll range are set by hand, and every row
 * counts at the estimate (40 px here), which is what the list assumes before measuring.
 */
function mountList(count: number, viewport = 400) {
  const [items, setItems] = createSignal(Array.from({ length: count }, (_, i) => `m${i + 1000}`))
  let scroller!: HTMLDivElement
  let handle!: VirtualListHandle
  let nearTop = 0
  render(() => (
    <div ref={scroller} style={{ position: 'relative' }}>
      <VirtualList
        scroller={() => scroller}
        items={items()}
        key={(item) => item}
        estimatedHeight={40}
        overscan={200}
        bottomSlack={48}
        nearTop={100}
        onNearTop={() => nearTop++}
        handle={(h) => {
          handle = h
        }}
      >
        {(item) => <p>{item}</p>}
      </VirtualList>
    </div>
  ))
  const total = () => items().length * 40
  Object.defineProperty(scroller, 'clientHeight', { configurable: true, get: () => viewport })
  Object.defineProperty(scroller, 'scrollHeight', { configurable: true, get: () => total() })
  const scrollTo = (top: number) => {
    scroller.scrollTop = top
    scroller.dispatchEvent(new Event('scroll'))
  }
  const rendered = () => [...scroller.querySelectorAll('p')].map((p) => p.textContent)
  return { scroller, handle: () => handle, setItems, items, scrollTo, rendered, nearTop: () => nearTop }
}

describe('VirtualList', () => {
  it('renders the rows on screen and the overscan only, whatever the length', () => {
    const list = mountList(10_000)
    list.handle().scrollToBottom()
    // 400 px of viewport and 200 px each side: 20 rows of 40 px (the bottom has nothing below).
    expect(list.rendered().length).toBeLessThanOrEqual(16)
    expect(list.rendered().at(-1)).toBe('m10999')
    expect(list.scroller.scrollTop).toBe(400_000)
    list.scrollTo(200_000)
    expect(list.rendered().length).toBeLessThanOrEqual(21)
    expect(list.rendered()).toContain('m6000')
    const padding = list.scroller.querySelector<HTMLElement>('.virtual-list')!.style
    expect(
      Number.parseFloat(padding.paddingTop) +
        list.rendered().length * 40 +
        Number.parseFloat(padding.paddingBottom),
    ).toBe(400_000)
  })

  it('keeps the row at the top of the screen in place while older rows are added above it', () => {
    const list = mountList(50)
    list.scrollTo(80) // m1002 at the top
    expect(list.nearTop()).toBeGreaterThan(0)
    list.setItems((items) => [...Array.from({ length: 30 }, (_, i) => `m${i + 970}`), ...items])
    expect(list.scroller.scrollTop).toBe(80 + 30 * 40)
    expect(list.rendered()).toContain('m1002')
  })

  it('follows the end while at it, and stays where the reader is otherwise', () => {
    const list = mountList(50)
    list.handle().scrollToBottom()
    list.scrollTo(list.scroller.scrollTop)
    list.setItems((items) => [...items, 'new 1'])
    expect(list.scroller.scrollTop).toBe(51 * 40)
    expect(list.rendered().at(-1)).toBe('new 1')

    list.scrollTo(400)
    list.setItems((items) => [...items, 'new 2'])
    expect(list.scroller.scrollTop).toBe(400)
    expect(list.rendered()).not.toContain('new 2')
  })

  it('brings a row that is not rendered to the top, with a margin', () => {
    const list = mountList(1000)
    expect(list.rendered()).not.toContain('m1500')
    expect(list.handle().scrollToKey('m1500', 8)).toBe(true)
    expect(list.scroller.scrollTop).toBe(500 * 40 - 8)
    expect(list.rendered()).toContain('m1500')
    expect(list.handle().scrollToKey('nope')).toBe(false)
  })
})

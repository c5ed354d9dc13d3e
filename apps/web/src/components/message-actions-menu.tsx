import { createSignal, createUniqueId, For, onCleanup, Show } from 'solid-js'
import { QUICK_REACTIONS } from '../chat/reaction-text.js'

export interface MessageActionsMenuProps {
  /** Which message, in the buttons' names: "your message", "message from bob". */
  subject: string
  /** The emoji the reader already put on this message (pressed in the picker). */
  ownReactions: readonly string[]
  onReact?: (emoji: string, mine: boolean) => void
  onReply?: () => void
  onEdit?: () => void
  onDelete?: () => void
  /** "Delete for everyone", or "Delete" for a message the server never had. */
  deleteLabel?: string
}

type Popup = 'none' | 'menu' | 'picker'

/** Room a popup needs above its buttons; with less (the first messages), it opens below. */
const POPUP_ROOM_PX = 170

/**
 * A bubble's actions: a react button with a small emoji picker and a menu (reply, edit, delete).
 * The buttons show on hover and on keyboard focus (they are always in the tab order, only faded),
 * the popups follow the menu pattern: the first item takes the focus, arrows move it, Escape or
 * Tab closes and gives the focus back to the button that opened it.
 */
export function MessageActionsMenu(props: MessageActionsMenuProps) {
  const menuId = createUniqueId()
  const pickerId = createUniqueId()
  const [popup, setPopup] = createSignal<Popup>('none')
  const [below, setBelow] = createSignal(false)
  let container: HTMLDivElement | undefined
  let menuButton: HTMLButtonElement | undefined
  let reactButton: HTMLButtonElement | undefined

  const items = () => [...(container?.querySelectorAll<HTMLElement>('[data-popup-item]') ?? [])]
  const close = (focusTrigger: boolean) => {
    const was = popup()
    setPopup('none')
    if (focusTrigger) (was === 'picker' ? reactButton : menuButton)?.focus()
  }
  const open = (which: Exclude<Popup, 'none'>) => {
    if (popup() === which) return close(true)
    const scroller = container?.closest('.messages') ?? document.documentElement
    const room = (container?.getBoundingClientRect().top ?? 0) - scroller.getBoundingClientRect().top
    setBelow(room < POPUP_ROOM_PX)
    setPopup(which)
    items()[0]?.focus()
  }
  /** Do what was chosen with the focus back on the trigger, so a dialog it opens can return it there. */
  const choose = (action: (() => void) | undefined) => {
    close(true)
    action?.()
  }

  const onKeyDown = (event: KeyboardEvent) => {
    if (popup() === 'none') return
    const all = items()
    const at = all.indexOf(document.activeElement as HTMLElement)
    const forward = popup() === 'menu' ? 'ArrowDown' : 'ArrowRight'
    const back = popup() === 'menu' ? 'ArrowUp' : 'ArrowLeft'
    const move = (index: number) => {
      event.preventDefault()
      all[(index + all.length) % all.length]?.focus()
    }
    if (event.key === 'Escape') {
      event.preventDefault()
      event.stopPropagation()
      close(true)
    } else if (event.key === forward) move(at + 1)
    else if (event.key === back) move(at - 1)
    else if (event.key === 'Home') move(0)
    else if (event.key === 'End') move(all.length - 1)
    else if (event.key === 'Tab') close(false)
  }

  // A press anywhere else closes the popup, as menus do.
  const onPointerDown = (event: PointerEvent) => {
    if (popup() !== 'none' && !container?.contains(event.target as Node)) close(false)
  }
  document.addEventListener('pointerdown', onPointerDown)
  onCleanup(() => document.removeEventListener('pointerdown', onPointerDown))

  return (
    <div ref={container} class="message-actions" classList={{ 'message-actions--open': popup() !== 'none' }}>
      <Show when={props.onReact}>
        <button
          ref={reactButton}
          type="button"
          class="message-actions__button"
          aria-label={`React to ${props.subject}`}
          aria-haspopup="true"
          aria-expanded={popup() === 'picker'}
          aria-controls={popup() === 'picker' ? pickerId : undefined}
          onClick={() => open('picker')}
        >
          <svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true">
            <circle cx="12" cy="12" r="9" fill="none" stroke="currentColor" stroke-width="2" />
            <circle cx="9" cy="10" r="1.3" fill="currentColor" />
            <circle cx="15" cy="10" r="1.3" fill="currentColor" />
            <path
              d="M8 14.5c1 1.5 2.3 2.2 4 2.2s3-.7 4-2.2"
              fill="none"
              stroke="currentColor"
              stroke-width="2"
            />
          </svg>
        </button>
      </Show>
      <button
        ref={menuButton}
        type="button"
        class="message-actions__button"
        aria-label={`Actions for ${props.subject}`}
        aria-haspopup="menu"
        aria-expanded={popup() === 'menu'}
        aria-controls={popup() === 'menu' ? menuId : undefined}
        onClick={() => open('menu')}
      >
        <svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true">
          <circle cx="5" cy="12" r="2" fill="currentColor" />
          <circle cx="12" cy="12" r="2" fill="currentColor" />
          <circle cx="19" cy="12" r="2" fill="currentColor" />
        </svg>
      </button>
      <Show when={popup() === 'picker'}>
        <div
          id={pickerId}
          class="message-actions__popup reaction-picker"
          classList={{ 'message-actions__popup--below': below() }}
          role="toolbar"
          onKeyDown={onKeyDown}
          aria-label="Reactions"
        >
          <For each={QUICK_REACTIONS}>
            {(emoji) => {
              const mine = () => props.ownReactions.includes(emoji)
              return (
                <button
                  type="button"
                  class="reaction-picker__emoji"
                  classList={{ 'reaction-picker__emoji--mine': mine() }}
                  data-popup-item
                  aria-pressed={mine()}
                  aria-label={mine() ? `Remove ${emoji}` : `React with ${emoji}`}
                  onClick={() => choose(() => props.onReact?.(emoji, mine()))}
                >
                  {emoji}
                </button>
              )
            }}
          </For>
        </div>
      </Show>
      <Show when={popup() === 'menu'}>
        <div
          id={menuId}
          class="message-actions__popup action-menu"
          classList={{ 'message-actions__popup--below': below() }}
          role="menu"
          onKeyDown={onKeyDown}
          aria-label={`Actions for ${props.subject}`}
        >
          <Show when={props.onReply}>
            <button type="button" role="menuitem" data-popup-item onClick={() => choose(props.onReply)}>
              Reply
            </button>
          </Show>
          <Show when={props.onEdit}>
            <button type="button" role="menuitem" data-popup-item onClick={() => choose(props.onEdit)}>
              Edit
            </button>
          </Show>
          <Show when={props.onDelete}>
            <button
              type="button"
              role="menuitem"
              class="action-menu__danger"
              data-popup-item
              onClick={() => choose(props.onDelete)}
            >
              {props.deleteLabel ?? 'Delete for everyone'}
            </button>
          </Show>
        </div>
      </Show>
    </div>
  )
}

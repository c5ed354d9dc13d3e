import { createUniqueId, onCleanup, onMount } from 'solid-js'

export interface ConfirmDialogProps {
  title: string
  description: string
  confirmLabel: string
  onConfirm: () => void
  onCancel: () => void
}

/**
 * A modal question with a destructive answer (delete for everyone). The focus starts on Cancel, the
 * safe choice; Tab stays inside; Escape or a press outside cancels; closing gives the focus back to
 * what had it when the dialog opened (the bubble's actions button).
 */
export function ConfirmDialog(props: ConfirmDialogProps) {
  const titleId = createUniqueId()
  const descriptionId = createUniqueId()
  const returnFocusTo = document.activeElement as HTMLElement | null
  let cancelButton: HTMLButtonElement | undefined
  let confirmButton: HTMLButtonElement | undefined
  onMount(() => cancelButton?.focus())
  onCleanup(() => {
    if (returnFocusTo?.isConnected) returnFocusTo.focus()
  })
  return (
    <div
      class="dialog-backdrop"
      onPointerDown={(event) => {
        if (event.target === event.currentTarget) props.onCancel()
      }}
    >
      <div
        class="dialog"
        role="alertdialog"
        aria-modal="true"
        aria-labelledby={titleId}
        aria-describedby={descriptionId}
        onKeyDown={(event) => {
          if (event.key === 'Escape') {
            event.preventDefault()
            props.onCancel()
          } else if (event.key === 'Tab') {
            // Two buttons: Tab and Shift+Tab both go to the other one.
            event.preventDefault()
            ;(document.activeElement === cancelButton ? confirmButton : cancelButton)?.focus()
          }
        }}
      >
        <h2 id={titleId} class="dialog__title">
          {props.title}
        </h2>
        <p id={descriptionId} class="dialog__description">
          {props.description}
        </p>
        <div class="dialog__buttons">
          <button
            ref={cancelButton}
            type="button"
            class="button button--ghost"
            onClick={() => props.onCancel()}
          >
            Cancel
          </button>
          <button
            ref={confirmButton}
            type="button"
            class="button button--danger"
            onClick={() => props.onConfirm()}
          >
            {props.confirmLabel}
          </button>
        </div>
      </div>
    </div>
  )
}

import type { Awareness } from 'y-protocols/awareness'

/** What one member's devices announce right now (y-protocols awareness; ephemeral, not stored). */
export interface PresenceState {
  online: boolean
  typing: boolean
}

interface AwarenessFields {
  user?: unknown
  typing?: unknown
}

/**
 * Presence per user, merged over their devices: online if any device is connected, typing if any
 * is typing. Awareness states are not checked by the server, so a client could announce another
 * user's presence; presence is a hint for the UI, never an input to status or permissions.
 */
export function presenceByUser(awareness: Awareness): Record<string, PresenceState> {
  const byUser: Record<string, PresenceState> = {}
  for (const state of awareness.getStates().values()) {
    const { user, typing } = state as AwarenessFields
    if (typeof user !== 'string') continue
    const entry = byUser[user] ?? { online: true, typing: false }
    entry.typing ||= typing === true
    byUser[user] = entry
  }
  return byUser
}

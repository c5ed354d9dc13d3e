export interface PresenceLineProps {
  /** Other members with an open app, by display name. */
  online: string[]
  typing: string[]
  memberCount: number
}

function typingText(names: string[]): string {
  if (names.length === 1) return `${names[0]} is typing…`
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`
  return `${names.length} people are typing…`
}

function onlineText(names: string[], memberCount: number): string {
  if (names.length === 0) {
    if (memberCount === 0) return ''
    return memberCount === 1 ? '1 member' : `${memberCount} members`
  }
  if (memberCount <= 2 && names.length === 1) return 'online'
  if (names.length <= 3) return `${names.join(', ')} online`
  return `${names.length} online`
}

/** Under the title: "typing…" wins over presence because it is the more immediate news. */
export function PresenceLine(props: PresenceLineProps) {
  const typing = () => props.typing.length > 0
  return (
    <p class="presence-line" classList={{ 'presence-line--typing': typing() }} aria-live="polite">
      {typing() ? typingText(props.typing) : onlineText(props.online, props.memberCount)}
    </p>
  )
}

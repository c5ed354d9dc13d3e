/** A connection URL (PostgreSQL, Redis) without its password, for logs and error messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return 'the given URL'
  }
}

/** Dev-mode REST calls against a real server: a session token per user, a conversation for a group. */
export async function post(
  base: string,
  path: string,
  body: unknown,
  token?: string,
): Promise<Record<string, string>> {
  const response = await fetch(base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
    body: JSON.stringify(body),
  })
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`)
  return (await response.json()) as Record<string, string>
}

export const sessionToken = async (base: string, userId: string): Promise<string> =>
  (await post(base, '/api/session', { userId })).token!

export const newConversation = async (base: string, ownerToken: string, members: string[]): Promise<string> =>
  (await post(base, '/api/conversations', { title: 'chaos', members }, ownerToken)).id!

/** Poll until `check()` is true; on timeout, fail with `describe()` so the reader sees what was missing. */
export async function until(
  what: string,
  check: () => boolean,
  timeoutMs: number,
  describe: () => string = () => '',
): Promise<number> {
  const start = Date.now()
  while (!check()) {
    if (Date.now() - start > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}. ${describe()}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return Date.now() - start
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

import { afterEach, describe, expect, it, vi } from 'vitest'
import { ApiError, createConversationRequest, createDevSession, listConversations } from '../src/api.js'

afterEach(() => vi.unstubAllGlobals())

/** The server's answer to the next request, as Fastify sends a validation failure or a refusal. */
function serverAnswers(status: number, error: { code: string; message: string }) {
  vi.stubGlobal(
    'fetch',
    vi.fn(
      async () =>
        new Response(JSON.stringify({ error }), { status, headers: { 'content-type': 'application/json' } }),
    ),
  )
}

async function refusal(request: Promise<unknown>): Promise<ApiError> {
  const error = await request.then(
    () => undefined,
    (cause: unknown) => cause,
  )
  expect(error).toBeInstanceOf(ApiError)
  return error as ApiError
}

describe('REST errors in plain words', () => {
  it('turns a schema failure on a name into what a user can fix', async () => {
    serverAnswers(400, {
      code: 'bad-request',
      message: 'body/userId must match pattern "^[A-Za-z0-9._~@-]{1,128}$"',
    })
    const error = await refusal(createDevSession('Mary Ann'))
    expect(error.status).toBe(400)
    expect(error.message).toContain('letters, digits')
    expect(error.message).not.toContain('pattern')
  })

  it('does the same for a member list, instead of the anyOf schema dump', async () => {
    serverAnswers(400, {
      code: 'bad-request',
      message:
        'body/members must be array, body/members/1 must match pattern "^[A-Za-z0-9._~@-]{1,128}$", body/members must be object, body/members must match a schema in anyOf',
    })
    const error = await refusal(createConversationRequest('tok', 'Weekend', ['carol', 'bob!']))
    expect(error.message).toMatch(/member/i)
    expect(error.message).not.toContain('anyOf')
  })

  it('calls a refused token an expired session, and an unreachable server unreachable', async () => {
    serverAnswers(401, { code: 'unauthorized', message: 'invalid token' })
    const expired = await refusal(listConversations('old'))
    expect(expired.status).toBe(401)
    expect(expired.message).toBe('Your session has expired.')

    vi.stubGlobal(
      'fetch',
      vi.fn(async () => {
        throw new TypeError('Failed to fetch')
      }),
    )
    const unreachable = await refusal(listConversations('tok'))
    expect(unreachable.message).toBe('Could not reach the server.')
  })
})

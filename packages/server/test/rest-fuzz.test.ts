import fc from 'fast-check'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServer } from '../src/index.js'

/**
 * Issue 16: random requests to every REST route — schema-valid and invalid params, bodies, media
 * types, tokens and methods — get a 2xx, or a 4xx with `{ error: { code, message } }`; never a 5xx,
 * and the server keeps answering. One fixed seed, so a red run replays as is;
 * TICKS_REST_FUZZ_SEED=<n> tries another.
 */
const SEED = Number(process.env.TICKS_REST_FUZZ_SEED || 20261216)
const RUNS = 600

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'OPTIONS' | 'HEAD'

let app: FastifyInstance
/** Tokens of users who own, belong to, or are strangers to `conversationId`; then garbage. */
let tokens: string[]
let conversationId: string

beforeAll(async () => {
  // Dev mode (no secret): POST /api/session exists, so it is fuzzed too.
  app = await createServer({ store: 'memory', logger: false, webRoot: false })
  const session = async (userId: string, admin = false) =>
    (
      (await app.inject({ method: 'POST', url: '/api/session', payload: { userId, admin } })).json() as {
        token: string
      }
    ).token
  // The last one may post announcements.
  tokens = await Promise.all([
    ...['alice', 'bob', 'carol', 'mallory'].map((user) => session(user)),
    session('ops', true),
  ])
  const created = await app.inject({
    method: 'POST',
    url: '/api/conversations',
    headers: { authorization: `Bearer ${tokens[0]}` },
    payload: { title: 'Fuzzed', members: { bob: 'member', carol: 'observer' } },
  })
  conversationId = (created.json() as { id: string }).id
})
afterAll(() => app.close())

/** Ids: the real one, valid-looking ones, and what a schema or a router could trip on. */
const anId = () =>
  fc.oneof(
    { weight: 5, arbitrary: fc.constant(conversationId) },
    fc.stringMatching(/^[A-Za-z0-9._~@-]{1,128}$/),
    fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', '.', '..', '%', '%00', '%E0%A4%A'),
    fc.constantFrom('a/b', 'a?b=c', 'a#b', '%2F', '%3F', 'x'.repeat(129), 'x'.repeat(5000)),
    fc.string({ unit: 'grapheme', maxLength: 40 }).map(encodeURIComponent),
    fc.string({ unit: 'binary', maxLength: 40 }).map(encodeURIComponent),
  )

const aUserId = () =>
  fc.oneof(
    fc.stringMatching(/^[A-Za-z0-9._~@-]{1,16}$/),
    fc.constantFrom('alice', 'bob', '__proto__', ''),
    fc.string(),
  )

const validBodies = {
  session: () => fc.record({ userId: aUserId() }),
  conversation: () =>
    fc.record({
      title: fc.string({ maxLength: 210 }),
      members: fc.oneof(
        fc.array(aUserId(), { maxLength: 5 }),
        fc.dictionary(aUserId(), fc.constantFrom('owner', 'member', 'observer', 'admin'), { maxKeys: 5 }),
      ),
    }),
  message: () => fc.record({ text: aText() }),
  /** An announcement (issue 16), from admins (one token in five) and everyone else. */
  announcement: () =>
    fc.record(
      { text: aText(), conversationId: fc.oneof(anId(), fc.string({ maxLength: 20 })) },
      { requiredKeys: ['text'] },
    ),
  /** A batch (issue 16): up to past the 100-message bound, with or without a correlation id. */
  batch: () =>
    fc.record(
      {
        messages: fc.array(fc.record({ text: aText() }), { maxLength: 102 }),
        correlationId: fc.oneof(fc.stringMatching(/^[A-Za-z0-9._~:@-]{1,20}$/), fc.string({ maxLength: 20 })),
      },
      { requiredKeys: ['messages'] },
    ),
}

function aText() {
  return fc.oneof(
    fc.string({ maxLength: 50 }),
    fc.constant('x'.repeat(17 * 1024)),
    fc.string({ unit: 'grapheme' }),
  )
}

/** A body as it goes on the wire: JSON of anything, JSON of a near-valid object, or no JSON at all. */
const aPayload = (valid: fc.Arbitrary<unknown>) =>
  fc.oneof(
    { weight: 6, arbitrary: valid.map((body) => JSON.stringify(body)) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(valid, fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue()))
        .map(([body, extra]) => JSON.stringify({ ...(body as object), ...extra })),
    },
    { weight: 1, arbitrary: fc.jsonValue().map((value) => JSON.stringify(value)) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '',
        '{',
        'null',
        '"text"',
        '[]',
        '{"__proto__":{"polluted":1}}',
        '{"constructor":{}}',
      ),
    },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  )

const aContentType = () =>
  fc.option(
    fc.oneof(
      { weight: 6, arbitrary: fc.constant('application/json') },
      {
        weight: 2,
        arbitrary: fc.constantFrom(
          'application/json',
          'application/json; charset=utf-8',
          'APPLICATION/JSON',
          'text/plain',
          'application/x-www-form-urlencoded',
          'multipart/form-data; boundary=x',
          'application/octet-stream',
          'application/json; charset=latin1',
          ';;;',
        ),
      },
    ),
    { nil: undefined, freq: 10 },
  )

const anAuthorization = () =>
  fc.option(
    fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: 0, max: 4 }).map((i) => `Bearer ${tokens[i]}`) },
      fc.constantFrom(
        'Bearer',
        'Bearer ',
        'Basic YWxpY2U6eA==',
        'bearer nonsense',
        'Bearer a.b.c',
        'Bearer ....',
      ),
      fc.string({ maxLength: 60 }).map((text) => `Bearer ${text}`),
    ),
    { nil: undefined },
  )

/** `?before=&limit=` of a history page: numbers in and out of range, and what is no number. */
const aPageQuery = () => {
  const value = fc.oneof(
    fc.integer({ min: -5, max: 2000 }).map(String),
    fc.constantFrom('0', '1e3', '9007199254740993', 'NaN', '', 'x', '1.5', '-0'),
  )
  return fc
    .record({ before: fc.option(value, { nil: undefined }), limit: fc.option(value, { nil: undefined }) })
    .map(({ before, limit }) => {
      const pairs = [
        ...(before === undefined ? [] : [`before=${before}`]),
        ...(limit === undefined ? [] : [`limit=${limit}`]),
      ]
      return pairs.length === 0 ? '' : `?${pairs.join('&')}`
    })
}

/** One request to one of the routes (or near one), with a method that is mostly the route's own. */
const aRequest = (): fc.Arbitrary<InjectOptions> => {
  const method = (own: Method) =>
    fc.oneof(
      { weight: 8, arbitrary: fc.constant(own) },
      {
        weight: 1,
        arbitrary: fc.constantFrom<Method>('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
      },
    )
  const withBody = (own: Method, url: fc.Arbitrary<string>, valid: fc.Arbitrary<unknown>) =>
    fc.record({ method: method(own), url, payload: aPayload(valid), contentType: aContentType() })
  const withoutBody = (url: fc.Arbitrary<string>) =>
    fc.record({
      method: method('GET'),
      url,
      payload: fc.constant(undefined),
      contentType: fc.constant(undefined),
    })
  const route = fc.oneof(
    withBody('POST', fc.constant('/api/session'), validBodies.session()),
    withBody('POST', fc.constant('/api/conversations'), validBodies.conversation()),
    withoutBody(fc.constant('/api/conversations')),
    withoutBody(anId().map((id) => `/api/conversations/${id}`)),
    withoutBody(
      fc.tuple(anId(), aPageQuery()).map(([id, query]) => `/api/conversations/${id}/history${query}`),
    ),
    withBody(
      'POST',
      anId().map((id) => `/api/conversations/${id}/messages`),
      validBodies.message(),
    ),
    withBody(
      'POST',
      anId().map((id) => `/api/conversations/${id}/messages`),
      validBodies.batch(),
    ),
    withBody('POST', fc.constant('/api/announcements'), validBodies.announcement()),
    withoutBody(aPageQuery().map((query) => `/api/announcements${query}`)),
    withoutBody(fc.constantFrom('/api/state', '/healthz', '/readyz', '/metrics', '/api', '/api/', '/sync')),
    withoutBody(anId().map((id) => `/api/${id}`)),
  )
  return fc
    .tuple(route, anAuthorization(), fc.option(fc.string({ maxLength: 30 }), { nil: undefined, freq: 2 }))
    .map(([{ method, url, payload, contentType }, authorization, query]) => ({
      method,
      url:
        query === undefined
          ? url
          : `${url}${url.includes('?') ? '&' : '?'}${encodeURIComponent(query)}=${encodeURIComponent(query)}`,
      headers: {
        ...(contentType !== undefined && { 'content-type': contentType }),
        ...(authorization !== undefined && { authorization }),
      },
      ...(payload !== undefined && method !== 'GET' && method !== 'HEAD' && { payload }),
    }))
}

/** What went wrong with this answer, if anything. */
function answerProblem(request: InjectOptions, statusCode: number, body: string): string | undefined {
  if (statusCode >= 500) return `${statusCode}: ${body}`
  if (statusCode < 400 || request.method === 'HEAD') return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    return `${statusCode} without a JSON body: ${body.slice(0, 200)}`
  }
  const error = (parsed as { error?: { code?: unknown; message?: unknown } }).error
  if (typeof error?.code !== 'string' || typeof error.message !== 'string')
    return `${statusCode} without { error: { code, message } }: ${body.slice(0, 200)}`
  return undefined
}

describe('fuzz: every REST route, random params and bodies (issue 16)', () => {
  it('answers 2xx or a 4xx with the JSON error body, never 5xx, and stays up', {
    timeout: 120_000,
  }, async () => {
    await fc.assert(
      fc.asyncProperty(aRequest(), async (request) => {
        const response = await app.inject(request)
        const problem = answerProblem(request, response.statusCode, response.body)
        expect(problem, `${request.method} ${request.url}`).toBeUndefined()
      }),
      { seed: SEED, numRuns: RUNS },
    )
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200)
    const read = await app.inject({
      url: `/api/conversations/${conversationId}`,
      headers: { authorization: `Bearer ${tokens[1]}` },
    })
    expect(read.statusCode).toBe(200)
    expect(Object.getPrototypeOf({}).polluted).toBeUndefined()
  })
})

/**
 * Access control over HTTP: every role against every route, tenancy that hides what it does
 * not cover, revocation, the failure limit, and no token in any log line.
 */
import type { InjectOptions } from 'fastify'
import { performance } from 'node:perf_hooks'
import t from 'tap'
import type { Role } from '../../src/domain/roles.js'
import { holdTableLock, testApp, type TestApp } from '../helpers.js'

type Inject = TestApp['app']['inject']
const ROLES: Role[] = ['scheduler', 'reviewer', 'auditor', 'admin']
const bearer = (token: string | undefined): Record<string, string | undefined> => ({ authorization: token === undefined ? undefined : `Bearer ${token}` })

interface Call { method: 'GET' | 'POST' | 'DELETE', url: string, payload?: Record<string, unknown> }

/** Seeds one decided job per tenant, under its own trace. */
async function seed (ctx: TestApp): Promise<void> {
  for (const tenant of ['acme', 'globex']) {
    const res = await ctx.app.inject({ method: 'POST', url: '/check', payload: { job_id: `job-${tenant}`, topic: 'job.mcp-bridge.read.ticket', tenant_id: tenant, trace_id: `trace-${tenant}` } })
    if (res.statusCode !== 200) throw new Error(`seeding ${tenant}: ${res.body}`)
  }
}

t.test('each role against each route: allowed 2xx, forbidden 403, foreign tenant 404 (or absent), no or bad token 401', async (t) => {
  // Many deliberate failures from one address: the failure limit has its own test.
  const ctx = await testApp(t, { env: { AUTH_FAILURE_LIMIT: '1000' } })
  await seed(ctx)
  const snapshot = ctx.app.policies.current.snapshotId
  const tokens = new Map<Role, string>()
  // Keys for every tenant: tenant scopes have tests of their own below.
  for (const role of ROLES) tokens.set(role, await ctx.token({ principal_id: `${role}-1`, roles: [role], tenants: ['*'] }))

  let n = 0
  // What a key of an allowed role gets when its tenants are only `globex` and the call is about
  // `acme`: the foreign tenant is absent (404, or left out of a list); what concerns every
  // tenant needs a key for every tenant (403).
  const absent = (body: Record<string, unknown>): boolean => !JSON.stringify(body).includes('acme')
  type Foreign = [number, ((body: Record<string, unknown>) => boolean)?]
  // Each call builds its request afresh: some create what they then consume (a key to revoke).
  const routes: Array<[string, Role[], Foreign, () => Promise<Call>]> = [
    ['POST /check', ['scheduler'], [404], async () => ({ method: 'POST', url: '/check', payload: { job_id: `j${n++}`, topic: 'job.mcp-bridge.read.ticket', tenant_id: 'acme' } })],
    ['POST /check/simulate', ['scheduler'], [404], async () => ({ method: 'POST', url: '/check/simulate', payload: { job_id: 'j', topic: 'job.mcp-bridge.read.ticket', tenant_id: 'acme' } })],
    ['POST /jobs/:job_id/events', ['scheduler'], [404], async () => ({ method: 'POST', url: '/jobs/job-acme/events', payload: { tenant_id: 'acme', status: 'RUNNING' } })],
    ['GET /traces/:trace_id', ['auditor'], [404], async () => ({ method: 'GET', url: '/traces/trace-acme' })],
    ['GET /decisions', ['auditor'], [200, (b) => absent(b) && (b.decisions as unknown[]).length > 0], async () => ({ method: 'GET', url: '/decisions' })],
    ['GET /audit/keys', ['auditor'], [200], async () => ({ method: 'GET', url: '/audit/keys' })],
    ['GET /audit/checkpoints', ['auditor'], [200, (b) => (b.checkpoints as unknown[]).length === 0], async () => ({ method: 'GET', url: '/audit/checkpoints?tenant_id=acme' })],
    ['GET /metrics', ['auditor'], [403], async () => ({ method: 'GET', url: '/metrics' })],
    ['GET /policies/current', ['scheduler', 'reviewer', 'auditor'], [403], async () => ({ method: 'GET', url: '/policies/current' })],
    ['GET /policies/snapshots/:id', ['scheduler', 'reviewer', 'auditor'], [403], async () => ({ method: 'GET', url: `/policies/snapshots/${snapshot}` })],
    ['POST /policies/reload', ['admin'], [403], async () => ({ method: 'POST', url: '/policies/reload' })],
    ['GET /keys', ['admin'], [200, absent], async () => ({ method: 'GET', url: '/keys' })],
    ['POST /keys', ['admin'], [403], async () => ({ method: 'POST', url: '/keys', payload: { principal_id: 'new', roles: ['auditor'], tenants: ['acme'] } })],
    ['DELETE /keys/:key_id', ['admin'], [404], async () => {
      const res = await ctx.app.inject({ method: 'POST', url: '/keys', payload: { principal_id: 'doomed', roles: ['auditor'], tenants: ['acme'] } })
      return { method: 'DELETE', url: `/keys/${String(res.json().key_id)}` }
    }]
  ]
  const foreignTokens = new Map<Role, string>()
  for (const role of ROLES) foreignTokens.set(role, await ctx.token({ principal_id: `globex-${role}`, roles: [role], tenants: ['globex'] }))
  for (const [name, allowed, [foreignStatus, foreignBody], build] of routes) {
    for (const role of ROLES) {
      const call = await build()
      const res = await ctx.app.inject({ ...call, headers: bearer(tokens.get(role)) })
      const may = role === 'admin' || allowed.includes(role)
      if (may) t.ok(res.statusCode >= 200 && res.statusCode < 300, `${name} as ${role}: ${res.statusCode}`, { body: res.body })
      else t.match({ status: res.statusCode, code: res.json().code }, { status: 403, code: 'ARBITER_ERR_FORBIDDEN' }, `${name} as ${role}: 403`)
    }
    const foreign = await ctx.app.inject({ ...await build(), headers: bearer(foreignTokens.get(allowed[0])) })
    t.equal(foreign.statusCode, foreignStatus, `${name} as ${allowed[0]} of another tenant: ${foreignStatus}`, { body: foreign.body })
    if (foreignBody !== undefined) t.ok(foreignBody(foreign.json()), `${name} as ${allowed[0]} of another tenant: nothing of acme in the answer`, { body: foreign.body })
    for (const [label, headers] of [
      ['no token', bearer(undefined)],
      ['an unknown token', bearer(`arb_${'A'.repeat(43)}`)],
      ['a short token', bearer('abc')],
      ['another scheme', { authorization: `Basic ${tokens.get('admin') ?? ''}` }]
    ] as const) {
      const res = await ctx.app.inject({ ...await build(), headers })
      t.match({ status: res.statusCode, code: res.json().code, challenge: res.headers['www-authenticate'] }, { status: 401, code: 'ARBITER_ERR_UNAUTHORIZED', challenge: 'Bearer' }, `${name} with ${label}: 401`)
    }
  }
  for (const url of ['/health', '/ready']) t.equal((await ctx.app.inject({ url, headers: bearer(undefined) })).statusCode, 200, `${url} needs no token`)
  for (const url of ['/decisions', '/keys', '/metrics', '/traces/trace-acme']) {
    t.equal((await ctx.app.inject({ method: 'HEAD', url, headers: bearer(undefined) })).statusCode, 401, `HEAD ${url} needs a token too`)
    t.equal((await ctx.app.inject({ method: 'HEAD', url, headers: bearer(tokens.get('reviewer')) })).statusCode, 403, `HEAD ${url} needs the role too`)
  }
  const unknown = await ctx.app.inject({ url: '/nope', headers: bearer(undefined) })
  t.equal(unknown.statusCode, 401, 'an unknown route needs a token too: which routes exist is not told to strangers')
  t.equal((await ctx.app.inject({ url: '/nope' })).statusCode, 404)
})

t.test('a foreign tenant looks like one that does not exist', async (t) => {
  const ctx = await testApp(t)
  await seed(ctx)
  const scheduler = bearer(await ctx.token({ principal_id: 'sched', roles: ['scheduler'], tenants: ['acme'] }))
  const auditor = bearer(await ctx.token({ principal_id: 'aud', roles: ['auditor'], tenants: ['acme'] }))
  const inject: Inject = ctx.app.inject.bind(ctx.app)

  for (const [label, call] of [
    ['check', { method: 'POST', url: '/check', payload: { job_id: 'x', topic: 'job.mcp-bridge.read.ticket', tenant_id: 'globex' } }],
    ['simulate', { method: 'POST', url: '/check/simulate', payload: { job_id: 'x', topic: 'job.mcp-bridge.read.ticket', tenant_id: 'globex' } }],
    ['the default tenant', { method: 'POST', url: '/check', payload: { job_id: 'x', topic: 'job.mcp-bridge.read.ticket' } }],
    ['an event for an existing job', { method: 'POST', url: '/jobs/job-globex/events', payload: { tenant_id: 'globex', status: 'RUNNING' } }],
    ['an event for a tenant that never was', { method: 'POST', url: '/jobs/job-globex/events', payload: { tenant_id: 'initech', status: 'RUNNING' } }]
  ] as const) {
    const res = await inject({ ...call, headers: scheduler })
    t.match({ status: res.statusCode, code: res.json().code }, { status: 404, code: 'ARBITER_ERR_NOT_FOUND' }, `${label}: 404`)
  }
  const existing = await inject({ method: 'POST', url: '/check', payload: { job_id: 'x', topic: 'job.mcp-bridge.read.ticket', tenant_id: 'globex' }, headers: scheduler })
  const never = await inject({ method: 'POST', url: '/check', payload: { job_id: 'x', topic: 'job.mcp-bridge.read.ticket', tenant_id: 'initech' }, headers: scheduler })
  t.equal(existing.json().message.replace('globex', 'T'), never.json().message.replace('initech', 'T'), 'a tenant with records and one without are refused alike')

  t.equal((await inject({ url: '/traces/trace-acme', headers: auditor })).statusCode, 200)
  const foreignTrace = await inject({ url: '/traces/trace-globex', headers: auditor })
  t.equal(foreignTrace.statusCode, 404, 'a foreign trace is not there')
  const neverWas = (await inject({ url: '/traces/trace-nonexistent', headers: auditor })).json().message as string
  t.equal(foreignTrace.json().message.replace('trace-globex', 'T'), neverWas.replace('trace-nonexistent', 'T'), 'exactly as a trace that never was')
  const decisions = (await inject({ url: '/decisions', headers: auditor })).json().decisions as Array<{ tenant_id: string }>
  t.same([...new Set(decisions.map((d) => d.tenant_id))], ['acme'], 'decisions: only the tenants in scope')
  t.same((await inject({ url: '/decisions?tenant_id=globex', headers: auditor })).json().decisions, [], 'filtering for a foreign tenant finds nothing')
  const checkpoints = await inject({ url: '/audit/checkpoints?tenant_id=globex', headers: auditor })
  t.same(checkpoints.json(), { tenant_id: 'globex', checkpoints: [] })

  // Through the admin's own (unscoped) token, the other tenant is all there.
  t.equal((await inject({ url: '/traces/trace-globex' })).statusCode, 200)
  t.equal((await inject({ url: '/decisions' })).json().decisions.length, 2)
})

t.test('what concerns every tenant needs a key for every tenant', async (t) => {
  const ctx = await testApp(t)
  const scoped = async (role: Role): Promise<Record<string, string | undefined>> => bearer(await ctx.token({ principal_id: `scoped-${role}`, roles: [role], tenants: ['acme'] }))
  const snapshot = ctx.app.policies.current.snapshotId
  for (const [role, method, url] of [
    ['auditor', 'GET', '/metrics'],
    ['scheduler', 'GET', '/policies/current'],
    ['reviewer', 'GET', `/policies/snapshots/${snapshot}`],
    ['admin', 'POST', '/policies/reload']
  ] as const) {
    const res = await ctx.app.inject({ method, url, headers: await scoped(role) })
    t.match({ status: res.statusCode, code: res.json().code, message: res.json().message }, { status: 403, code: 'ARBITER_ERR_FORBIDDEN', message: /needs a key whose tenants are \*/ }, `${method} ${url} with a ${role} key for one tenant`)
  }
  t.equal((await ctx.app.inject({ url: '/audit/keys', headers: await scoped('auditor') })).statusCode, 200, 'public keys are for every auditor')
})

t.test('a key speaks only for the agents it names, and the actor is the key, never the body', async (t) => {
  const ctx = await testApp(t)
  const deployer = bearer(await ctx.token({ principal_id: 'ci-scheduler', roles: ['scheduler'], tenants: ['acme'], agents: ['agent:deploy-*'] }))
  const job = (principal?: string): Record<string, unknown> => ({ job_id: `j-${principal ?? 'none'}`, topic: 'job.mcp-bridge.read.ticket', tenant_id: 'acme', trace_id: 'trace-agents', ...(principal === undefined ? {} : { principal_id: principal }) })
  const ok = await ctx.app.inject({ method: 'POST', url: '/check', payload: job('agent:deploy-7'), headers: deployer })
  t.equal(ok.statusCode, 200)
  for (const principal of ['agent:other', 'agent:deploy-7.sub', undefined]) {
    const res = await ctx.app.inject({ method: 'POST', url: '/check', payload: job(principal), headers: deployer })
    t.match({ status: res.statusCode, code: res.json().code }, { status: 403, code: 'ARBITER_ERR_FORBIDDEN' }, `principal ${String(principal)}: 403`)
  }
  const event = async (jobId: string, headers = deployer): Promise<number> => (await ctx.app.inject({ method: 'POST', url: `/jobs/${jobId}/events`, payload: { tenant_id: 'acme', status: 'RUNNING' }, headers })).statusCode
  t.equal((await ctx.app.inject({ method: 'POST', url: '/check', payload: { ...job('agent:other'), job_id: 'other-job', trace_id: 'trace-other' } })).statusCode, 200, 'the admin decides a job for another agent')
  t.equal(await event('other-job'), 404, 'the limited key cannot report on it: it looks unknown')
  t.equal(await event('j-agent:deploy-7'), 201, 'but can on its own agents\' jobs')
  t.equal(await event('other-job', {}), 201, 'the job itself is fine')
  const trace = await ctx.app.inject({ url: '/traces/trace-agents' })
  t.equal(trace.json().entries.filter((e: { type: string }) => e.type === 'decision').length, 1, 'refused jobs are not decided, so not recorded')
  t.match(trace.json().entries[0].actor, { principal_id: 'ci-scheduler', key_id: /^key_/ }, 'the requester is the key\'s principal')
  const decision = (await ctx.app.inject({ url: '/decisions?job_id=j-agent:deploy-7' })).json().decisions[0]
  t.ok(decision, 'the decision is listed')
})

t.test('revocation takes effect on the next request where it was made, and within moments on every instance', async (t) => {
  const a = await testApp(t)
  const b = await testApp(t, { testDb: a.testDb })
  const token = await a.token({ principal_id: 'short-lived', roles: ['auditor'], tenants: ['*'] })
  t.equal((await a.app.inject({ url: '/decisions', headers: bearer(token) })).statusCode, 200)
  t.equal((await b.app.inject({ url: '/decisions', headers: bearer(token) })).statusCode, 200)
  const keyId = (await a.app.inject({ url: '/keys' })).json().keys.find((k: { principal_id: string }) => k.principal_id === 'short-lived').key_id as string
  const revoked = await a.app.inject({ method: 'DELETE', url: `/keys/${keyId}` })
  t.match(revoked.json(), { key_id: keyId, revoked_at: String, revoked_by: /^key_/ })
  t.equal((await a.app.inject({ url: '/decisions', headers: bearer(token) })).statusCode, 401, 'refused where it was revoked')
  // The other instance hears of it by a notification (test/auth/key-cache.test.ts measures how soon).
  const start = performance.now()
  while ((await b.app.inject({ url: '/decisions', headers: bearer(token) })).statusCode !== 401 && performance.now() - start < 2000) {
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  t.equal((await b.app.inject({ url: '/decisions', headers: bearer(token) })).statusCode, 401, 'and on the other instance, within 2 s')
  t.match((await a.app.inject({ method: 'DELETE', url: `/keys/${keyId}` })).json(), { key_id: keyId, revoked_at: revoked.json().revoked_at }, 'revoking again changes nothing')
  t.notOk((await a.app.inject({ url: '/keys' })).json().keys.some((k: { key_id: string }) => k.key_id === keyId), 'gone from the active list')
  t.ok((await a.app.inject({ url: '/keys?include_revoked=true' })).json().keys.some((k: { key_id: string }) => k.key_id === keyId), 'kept on record')
})

t.test('keys reach no further than the admin who makes them', async (t) => {
  const ctx = await testApp(t)
  const acmeAdmin = bearer(await ctx.token({ principal_id: 'acme-admin', roles: ['admin'], tenants: ['acme'], agents: ['agent:acme-*'] }))
  const globexKey = (await ctx.app.inject({ method: 'POST', url: '/keys', payload: { principal_id: 'g', roles: ['auditor'], tenants: ['globex'] } })).json()
  const create = async (payload: Record<string, unknown>): Promise<number> => (await ctx.app.inject({ method: 'POST', url: '/keys', payload, headers: acmeAdmin })).statusCode
  t.equal(await create({ principal_id: 'a', roles: ['scheduler'], tenants: ['acme'], agents: ['agent:acme-*'] }), 201)
  t.equal(await create({ principal_id: 'a', roles: ['scheduler'], tenants: ['globex'], agents: ['agent:acme-*'] }), 403, 'not another tenant')
  t.equal(await create({ principal_id: 'a', roles: ['scheduler'], tenants: ['*'], agents: ['agent:acme-*'] }), 403, 'not every tenant')
  t.equal(await create({ principal_id: 'a', roles: ['scheduler'], tenants: ['acme'] }), 403, 'not every agent')
  const listed = (await ctx.app.inject({ url: '/keys', headers: acmeAdmin })).json().keys as Array<{ key_id: string }>
  t.notOk(listed.some((k) => k.key_id === globexKey.key_id), 'a key beyond reach is not listed')
  const revoke = await ctx.app.inject({ method: 'DELETE', url: `/keys/${String(globexKey.key_id)}`, headers: acmeAdmin })
  t.equal(revoke.statusCode, 404, 'nor revocable: it looks absent')

  const bad: Array<Record<string, unknown>> = [
    { principal_id: 'x', roles: [], tenants: ['acme'] },
    { principal_id: 'x', roles: ['root'], tenants: ['acme'] },
    { principal_id: 'x', roles: ['auditor'], tenants: [] },
    { principal_id: 'x', roles: ['auditor'], tenants: ['*', 'acme'] },
    { principal_id: 'x', roles: ['auditor'], tenants: ['a b'] },
    { principal_id: 'has space', roles: ['auditor'], tenants: ['acme'] },
    { principal_id: 'x', roles: ['auditor'], tenants: ['acme'], token: 'mine' }
  ]
  for (const payload of bad) {
    const res = await ctx.app.inject({ method: 'POST', url: '/keys', payload })
    t.match({ status: res.statusCode, code: res.json().code }, { status: 400, code: 'ARBITER_ERR_VALIDATION' }, JSON.stringify(payload))
  }
  for (const id of ['nope', `key_${'g'.repeat(16)}`]) t.equal((await ctx.app.inject({ method: 'DELETE', url: `/keys/${id}` })).statusCode, 400, `${id}: 400`)
  t.equal((await ctx.app.inject({ method: 'DELETE', url: `/keys/key_${'0'.repeat(16)}` })).statusCode, 404)
})

t.test('the last admin key that reaches everything cannot be revoked', async (t) => {
  const ctx = await testApp(t)
  const own = (await ctx.app.inject({ url: '/keys' })).json().keys.find((k: { principal_id: string }) => k.principal_id === 'test-admin').key_id as string
  const res = await ctx.app.inject({ method: 'DELETE', url: `/keys/${own}` })
  t.match({ status: res.statusCode, code: res.json().code }, { status: 409, code: 'ARBITER_ERR_LAST_ADMIN' })
  const second = await ctx.token({ principal_id: 'second-admin', roles: ['admin'], tenants: ['*'] })
  t.equal((await ctx.app.inject({ method: 'DELETE', url: `/keys/${own}`, headers: bearer(second) })).statusCode, 200, 'with another one, it can')
  t.equal((await ctx.app.inject({ url: '/keys' })).statusCode, 401, 'and its token stops working')
})

t.test('failed authentications are limited per source address', async (t) => {
  const ctx = await testApp(t, { env: { AUTH_FAILURE_LIMIT: '3', AUTH_FAILURE_WINDOW_SEC: '60' } })
  const from = (remoteAddress: string, token?: string): InjectOptions => ({ url: '/decisions', remoteAddress, headers: bearer(token) })
  const wrong = `arb_${'x'.repeat(43)}`
  for (let i = 0; i < 3; i++) t.equal((await ctx.app.inject(from('10.0.0.1', wrong))).statusCode, 401)
  const limited = await ctx.app.inject(from('10.0.0.1', wrong))
  t.match({ status: limited.statusCode, code: limited.json().code }, { status: 429, code: 'ARBITER_ERR_TOO_MANY_FAILURES' }, 'past the limit, a bad token is told to wait')
  t.ok(Number(limited.headers['retry-after']) > 0 && Number(limited.headers['retry-after']) <= 60, `Retry-After: ${String(limited.headers['retry-after'])}`)
  t.equal((await ctx.app.inject(from('10.0.0.1'))).statusCode, 429, 'so is a missing one')
  t.equal((await ctx.app.inject(from('10.0.0.1', ctx.adminToken))).statusCode, 200, 'a valid key from the same address still gets through: nobody behind a shared address is locked out')
  t.equal((await ctx.app.inject(from('10.0.0.2', wrong))).statusCode, 401, 'another address is not affected')
  const metrics = (await ctx.app.inject({ url: '/metrics' })).body
  t.match(metrics, /arbiter_auth_failures_total\{reason="rate_limited"\} 2/)
  t.equal((await ctx.app.inject({ url: '/health', remoteAddress: '10.0.0.1' })).statusCode, 200, 'the probes stay open')
})

t.test('behind a trusted proxy, the limit counts the clients it forwards for', async (t) => {
  const ctx = await testApp(t, { env: { AUTH_FAILURE_LIMIT: '1', TRUST_PROXY: '10.0.0.9' } })
  const via = (remoteAddress: string, client: string, token?: string): InjectOptions => ({ url: '/decisions', remoteAddress, headers: { ...bearer(token), 'x-forwarded-for': client } })
  t.equal((await ctx.app.inject(via('10.0.0.9', '192.0.2.1'))).statusCode, 401)
  t.equal((await ctx.app.inject(via('10.0.0.9', '192.0.2.1'))).statusCode, 429, 'the failing client is limited')
  t.equal((await ctx.app.inject(via('10.0.0.9', '192.0.2.2'))).statusCode, 401, 'another client behind the same proxy is not')
  t.equal((await ctx.app.inject(via('10.0.0.8', '192.0.2.3'))).statusCode, 401)
  t.equal((await ctx.app.inject(via('10.0.0.8', '192.0.2.4'))).statusCode, 429, 'an untrusted peer cannot pick its address')
})

t.test('no token or authorization header reaches a log line; request logs name who and what', async (t) => {
  const ctx = await testApp(t)
  const scheduler = await ctx.token({ principal_id: 'sched-logs', roles: ['scheduler'], tenants: ['acme'] })
  const wrong = `arb_${'W'.repeat(43)}`
  await ctx.app.inject({ method: 'POST', url: '/check', payload: { job_id: 'logged', topic: 'job.mcp-bridge.read.ticket', tenant_id: 'acme', trace_id: 'trace-logs' }, headers: bearer(scheduler) })
  await ctx.app.inject({ url: '/decisions', headers: bearer(wrong) })
  await ctx.app.inject({ url: '/decisions', headers: { authorization: wrong } })
  const created = (await ctx.app.inject({ method: 'POST', url: '/keys', payload: { principal_id: 'p', roles: ['auditor'], tenants: ['acme'] } })).json()
  t.equal(created.token.length, 47)
  await ctx.app.inject({ url: '/decisions', headers: bearer(created.token) })
  const log = ctx.logLines.join('')
  t.ok(ctx.logLines.length > 10, `${ctx.logLines.length} log lines`)
  for (const secret of [ctx.adminToken, scheduler, wrong, created.token]) {
    t.notOk(log.includes(secret.slice(4)), 'a token is never logged')
  }
  t.notMatch(log, /authorization/i, 'nor the header')
  const lines = ctx.logLines.map((l) => JSON.parse(l) as Record<string, unknown>)
  const completed = lines.find((l) => l.msg === 'request completed' && l.principal === 'sched-logs')
  t.match(completed, { reqId: String, principal: 'sched-logs', key_id: /^key_/, tenantId: 'acme', traceId: 'trace-logs', jobId: 'logged' }, 'the request log names request, principal, tenant and trace')
  await ctx.app.inject({ url: '/traces/trace-logs' })
  await ctx.app.inject({ url: '/decisions?tenant_id=acme' })
  const reads = ctx.logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request completed' && l.principal === 'test-admin')
  t.ok(reads.some((l) => l.traceId === 'trace-logs'), 'a trace read names its trace')
  t.ok(reads.some((l) => l.tenantId === 'acme'), 'a decision read names its tenant')
})

t.test('a key store that does not answer: 503 within the budget, never a pass', async (t) => {
  const ctx = await testApp(t, { env: { CHECK_BUDGET_MS: '300' } })
  const release = await holdTableLock(ctx.testDb, 'api_keys')
  const started = performance.now()
  const res = await ctx.app.inject({ method: 'POST', url: '/check', payload: { job_id: 'stalled', topic: 'job.mcp-bridge.read.ticket' } })
  const elapsed = performance.now() - started
  await release()
  t.match({ status: res.statusCode, code: res.json().code, retry: res.headers['retry-after'] }, { status: 503, code: 'ARBITER_ERR_AUTH_UNAVAILABLE', retry: '1' })
  t.ok(elapsed < 300 + 1500, `answered after ${Math.round(elapsed)} ms (budget 300 ms)`)
  t.equal((await ctx.app.inject({ method: 'POST', url: '/check', payload: { job_id: 'after', topic: 'job.mcp-bridge.read.ticket' } })).statusCode, 200, 'served again once the store answers')
})

t.test('ARBITER_AUTH=disabled: every caller is an anonymous admin, recorded as such, with a warning', async (t) => {
  const ctx = await testApp(t, { env: { ARBITER_AUTH: 'disabled' } })
  const res = await ctx.app.inject({ method: 'POST', url: '/check', payload: { job_id: 'anon', topic: 'job.mcp-bridge.read.ticket', trace_id: 'trace-anon' }, headers: bearer(undefined) })
  t.equal(res.statusCode, 200)
  const trace = await ctx.app.inject({ url: '/traces/trace-anon', headers: bearer(undefined) })
  t.same(trace.json().entries[0].actor, { principal_id: 'anonymous', auth: 'disabled' })
  t.match(ctx.logLines.join(''), /ARBITER_AUTH=disabled/)
  const rebound = await ctx.app.inject({ url: '/decisions', headers: { ...bearer(undefined), host: 'attacker.example' } })
  t.match({ status: rebound.statusCode, code: rebound.json().code }, { status: 403, code: 'ARBITER_ERR_FORBIDDEN' }, 'a request for another host name is refused (DNS rebinding)')
  for (const host of ['localhost:8080', '127.0.0.1', '[::1]:8080']) t.equal((await ctx.app.inject({ url: '/decisions', headers: { ...bearer(undefined), host } })).statusCode, 200, `Host ${host}`)
  const made = await ctx.app.inject({ method: 'POST', url: '/keys', payload: { principal_id: 'x', roles: ['admin'], tenants: ['*'] }, headers: bearer(undefined) })
  t.match({ status: made.statusCode, code: made.json().code }, { status: 403, code: 'ARBITER_ERR_FORBIDDEN' }, 'no key is made that would outlive the mode')
  t.equal((await ctx.app.inject({ method: 'DELETE', url: `/keys/key_${'0'.repeat(16)}`, headers: bearer(undefined) })).statusCode, 403)
})

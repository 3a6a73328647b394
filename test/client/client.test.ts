/**
 * The scheduler's client against a real Arbiter on a real port, and against raw HTTP servers
 * that misbehave in the ways a network and a broken deployment do.
 */
import { once } from 'node:events'
import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import { performance } from 'node:perf_hooks'
import t, { type Test } from 'tap'
import { ArbiterClient, ArbiterClientError, DECISIONS, dispatchAction, JOB_STATUSES, type ArbiterDecision, type CheckJob, type CheckResult, type FailOpenEvent } from '../../src/client/index.js'
import { DECISIONS as SERVER_DECISIONS } from '../../src/policy/types.js'
import { decisionSchema } from '../../src/schemas/check.js'
import { JOB_STATUSES as SERVER_JOB_STATUSES } from '../../src/domain/job-status.js'
import { holdTableLock, testApp, type TestApp } from '../helpers.js'

const POLICY = `version: v1
rules:
  - id: allow-read
    match: { topics: ["job.read.*"] }
    decision: allow
  - id: constrain-exec
    match: { topics: ["job.exec.*"] }
    decision: allow_with_constraints
    constraints: { max_runtime_sec: 30 }
  - id: approve-write
    match: { topics: ["job.write.*"] }
    decision: require_approval
    reason: "writes need review"
  - id: deny-destructive
    match: { risk_tags: ["destructive"] }
    decision: deny
    reason: "destructive jobs are refused"
  - id: allow-notify
    match: { topics: ["job.notify.*"] }
    decision: allow
  - id: one-notification-a-second
    match: { topics: ["job.notify.*"] }
    decision: throttle
    rate_limit: { max: 1, window_sec: 1, key: [topic] }
`

/** A real Arbiter listening on a port, and a scheduler key for it. */
async function arbiter (t: Test, env: Record<string, string> = {}): Promise<{ ctx: TestApp, url: string, token: string }> {
  const ctx = await testApp(t, { policies: { 'client.yaml': POLICY }, env })
  await ctx.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = ctx.app.server.address() as AddressInfo
  const token = await ctx.token({ principal_id: 'scheduler-1', roles: ['scheduler'], tenants: ['*'] })
  return { ctx, url: `http://127.0.0.1:${port}`, token }
}

/** A raw HTTP server, closed (with every connection) when the test ends. */
async function rawServer (t: Test, handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(async () => {
    server.closeAllConnections()
    server.close()
    await once(server, 'close')
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** A port nothing listens on. */
async function closedPort (): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  server.close()
  await once(server, 'close')
  return port
}

function send (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(typeof body === 'string' ? body : JSON.stringify(body))
}

/** A decision in the shape of Arbiter's 200. */
function decisionBody (decision: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    decision,
    reason: `raw ${decision}`,
    rule_id: null,
    matched_rules: [],
    policy_snapshot: `sha256:${'a'.repeat(64)}`,
    job_hash: `sha256:${'b'.repeat(64)}`,
    decision_id: '00000000-0000-4000-8000-000000000000',
    trace_id: 'raw-trace',
    checked_at: '2026-01-01T00:00:00.000Z',
    signature: `hmac-sha256:k1:${'c'.repeat(64)}`,
    ...extra
  }
}

const JOB: CheckJob = { job_id: 'job-1', topic: 'job.read.ticket' }

t.test('the client knows the decisions, job statuses and decision fields the server does', async (t) => {
  t.same(DECISIONS, SERVER_DECISIONS)
  t.same(JOB_STATUSES, SERVER_JOB_STATUSES)
  // Typed against ArbiterDecision: a field missing here, or one the type lacks, does not compile.
  const fields: Record<Exclude<keyof ArbiterDecision, 'source'>, true> = {
    decision: true,
    reason: true,
    rule_id: true,
    matched_rules: true,
    constraints: true,
    policy_decision: true,
    approval: true,
    approval_ref: true,
    grant_ref: true,
    retry_after_ms: true,
    derived_risk_tags: true,
    command: true,
    missing_evidence: true,
    policy_snapshot: true,
    job_hash: true,
    decision_id: true,
    trace_id: true,
    checked_at: true,
    signature: true
  }
  t.same(Object.keys(fields).sort(), Object.keys(decisionSchema.properties).sort(), 'ArbiterDecision has every field of the Decision schema')
})

t.test('Arbiter\'s decisions pass through as sent, with source arbiter', async (t) => {
  const { url, token } = await arbiter(t)
  const client = new ArbiterClient({ baseUrl: url, token })

  const allow = await client.check({ ...JOB, trace_id: 'trace-allow' })
  t.match(allow, { source: 'arbiter', decision: 'ALLOW', reason: 'matched rule allow-read', rule_id: 'allow-read', matched_rules: ['allow-read'], trace_id: 'trace-allow' })
  t.match(allow, { decision_id: /^[0-9a-f-]{36}$/, job_hash: /^sha256:[0-9a-f]{64}$/, policy_snapshot: /^sha256:[0-9a-f]{64}$/, signature: /^hmac-sha256:/ })
  t.equal(dispatchAction(allow), 'dispatch')

  const constrained = await client.check({ job_id: 'job-2', topic: 'job.exec.shell' })
  t.match(constrained, { source: 'arbiter', decision: 'ALLOW_WITH_CONSTRAINTS', rule_id: 'constrain-exec' })
  t.same(constrained.decision === 'ALLOW_WITH_CONSTRAINTS' && constrained.source === 'arbiter' ? constrained.constraints : null, { max_runtime_sec: 30 })
  t.equal(dispatchAction(constrained), 'dispatch_with_constraints')

  const approval = await client.check({ job_id: 'job-3', topic: 'job.write.ticket' })
  t.match(approval, { source: 'arbiter', decision: 'REQUIRE_APPROVAL', reason: 'writes need review', rule_id: 'approve-write', policy_decision: 'REQUIRE_APPROVAL', approval: { status: 'PENDING', approvals_required: 1, approvals_received: 0 } })
  t.equal(dispatchAction(approval), 'wait_for_approval')

  const deny = await client.check({ job_id: 'job-4', topic: 'job.read.ticket', risk_tags: ['destructive'] })
  t.match(deny, { source: 'arbiter', decision: 'DENY', reason: 'destructive jobs are refused', rule_id: 'deny-destructive' })
  t.notOk('error' in deny, 'a decision carries no client error')
  t.equal(dispatchAction(deny), 'reject')
})

t.test('a refused request is a DENY with the server\'s code, even failing open', async (t) => {
  const { ctx, url, token } = await arbiter(t)
  const opened: FailOpenEvent[] = []
  const open = new ArbiterClient({ baseUrl: url, token, failMode: 'open', onFailOpen: (e) => opened.push(e) })

  const bad = await open.check({ ...JOB, approved: true } as unknown as CheckJob)
  t.same(bad, { source: 'client', decision: 'DENY', reason: 'arbiter answered 400: body has unknown field \'approved\'', error: { code: 'ARBITER_ERR_VALIDATION', message: 'body has unknown field \'approved\'', statusCode: 400 } })
  t.equal(dispatchAction(bad), 'reject')

  const wrongKey = new ArbiterClient({ baseUrl: url, token: 'not-a-key', failMode: 'open', onFailOpen: (e) => opened.push(e) })
  t.match(await wrongKey.check(JOB), { source: 'client', decision: 'DENY', error: { code: 'ARBITER_ERR_UNAUTHORIZED', statusCode: 401 } })

  const acmeOnly = await ctx.token({ principal_id: 'scheduler-acme', roles: ['scheduler'], tenants: ['acme'], agents: ['agent-a'] })
  const scoped = new ArbiterClient({ baseUrl: url, token: acmeOnly, failMode: 'open', onFailOpen: (e) => opened.push(e) })
  t.match(await scoped.check({ ...JOB, tenant_id: 'other' }), { decision: 'DENY', source: 'client', error: { code: 'ARBITER_ERR_NOT_FOUND', statusCode: 404 } })
  t.match(await scoped.check({ ...JOB, tenant_id: 'acme', principal_id: 'agent-b' }), { decision: 'DENY', source: 'client', error: { code: 'ARBITER_ERR_FORBIDDEN', statusCode: 403 } })

  // Checked before anything is sent: without a job_id nobody could tell which job failed open.
  for (const job of [null, { topic: 'job.read.x' }, { job_id: 'j' }, { job_id: 'j', topic: 't', n: 10n }]) {
    const r = await open.check(job as unknown as CheckJob)
    t.match(r, { source: 'client', decision: 'DENY', reason: /^invalid job: /, error: { code: 'ARBITER_CLIENT_ERR_INVALID_JOB' } })
  }
  t.same(opened, [], 'nothing failed open')
})

t.test('an unreachable Arbiter: DENY failing closed, ALLOW failing open, reported every time', async (t) => {
  const port = await closedPort()
  const reason = `arbiter unreachable: connect ECONNREFUSED 127.0.0.1:${port}`
  const error = { code: 'ARBITER_CLIENT_ERR_UNREACHABLE', message: reason }
  const closed = new ArbiterClient({ baseUrl: `http://127.0.0.1:${port}`, token: 'tok' })
  t.same(await closed.check(JOB), { source: 'client', decision: 'DENY', reason, error })

  const opened: FailOpenEvent[] = []
  const open = new ArbiterClient({ baseUrl: `http://127.0.0.1:${port}`, token: 'tok', failMode: 'open', onFailOpen: (e) => opened.push(e) })
  const allowed = await open.check(JOB)
  t.same(allowed, { source: 'fail_open', decision: 'ALLOW', reason: `failing open: ${reason}`, error })
  t.equal(dispatchAction(allowed), 'dispatch')
  await open.check({ job_id: 'job-2', topic: 'job.read.x' })
  t.same(opened, [{ job_id: 'job-1', error: reason, code: error.code }, { job_id: 'job-2', error: reason, code: error.code }])
})

t.test('failing open without onFailOpen warns once per client, and a throwing hook does not break the check', async (t) => {
  const warnings: Array<Error & { code?: string }> = []
  const onWarning = (w: Error): void => { warnings.push(w) }
  process.on('warning', onWarning)
  t.teardown(() => { process.off('warning', onWarning) })
  const baseUrl = `http://127.0.0.1:${await closedPort()}`

  for (const client of [new ArbiterClient({ baseUrl, token: 'tok', failMode: 'open' }), new ArbiterClient({ baseUrl, token: 'tok', failMode: 'open' })]) {
    t.equal((await client.check(JOB)).decision, 'ALLOW')
    t.equal((await client.check(JOB)).decision, 'ALLOW')
  }
  const throwing = new ArbiterClient({ baseUrl, token: 'tok', failMode: 'open', onFailOpen: () => { throw new Error('hook broke') } })
  t.equal((await throwing.check(JOB)).source, 'fail_open')
  await new Promise((resolve) => setImmediate(resolve))
  t.same(warnings.map((w) => [w.name, w.code]), [
    ['ArbiterFailOpenWarning', 'ARBITER_CLIENT_FAIL_OPEN'],
    ['ArbiterFailOpenWarning', 'ARBITER_CLIENT_FAIL_OPEN'],
    ['ArbiterFailOpenWarning', 'ARBITER_CLIENT_FAIL_OPEN_HOOK']
  ], 'one warning for each client, and one for the broken hook')
  t.match(warnings[0].message, /job job-1 was let through \(arbiter unreachable: /)
})

t.test('a connection that breaks, and what a failed fetch says, are an unreachable Arbiter', async (t) => {
  const url = await rawServer(t, (req) => { req.socket.destroy() })
  t.match(await new ArbiterClient({ baseUrl: url, token: 'tok' }).check(JOB), { source: 'client', decision: 'DENY', reason: 'arbiter unreachable: other side closed', error: { code: 'ARBITER_CLIENT_ERR_UNREACHABLE' } })

  // What fetch rejects with elsewhere: an AggregateError when "localhost" is both ::1 and
  // 127.0.0.1 and neither answers (not the case on every machine), or anything at all.
  const refused = Object.assign(new Error('connect ECONNREFUSED ::1:8080'), { code: 'ECONNREFUSED' })
  const rejections: Array<[unknown, string]> = [
    [new TypeError('fetch failed', { cause: new AggregateError([refused, new Error('connect ECONNREFUSED 127.0.0.1:8080')], '') }), 'connect ECONNREFUSED ::1:8080'],
    [new TypeError('fetch failed', { cause: Object.assign(new Error(''), { code: 'ECONNRESET' }) }), 'ECONNRESET'],
    [new TypeError('fetch failed', { cause: new RangeError('') }), 'RangeError'],
    ['a string', 'a string']
  ]
  for (const [rejection, said] of rejections) {
    const client = new ArbiterClient({ baseUrl: url, token: 'tok', fetch: async () => { throw rejection } })
    t.equal((await client.check(JOB)).reason, `arbiter unreachable: ${said}`)
  }
})

t.test('another 5xx from Arbiter is a DENY with its code, and may fail open', async (t) => {
  const bodies = [
    { statusCode: 500, code: 'ARBITER_ERR_INTERNAL', error: 'Internal Server Error', message: 'Internal Server Error' },
    { statusCode: 503, code: 'ARBITER_ERR_SHUTTING_DOWN', error: 'Service Unavailable', message: 'shutting down' },
    { code: 'ARBITER_ERR_ODD' }
  ]
  let i = 0
  const url = await rawServer(t, (_req, res) => { const body = bodies[i++ % bodies.length]; send(res, body.statusCode ?? 500, body) })
  const closed = new ArbiterClient({ baseUrl: url, token: 'tok' })
  t.same(await closed.check(JOB), { source: 'client', decision: 'DENY', reason: 'arbiter answered 500: Internal Server Error', error: { code: 'ARBITER_ERR_INTERNAL', message: 'Internal Server Error', statusCode: 500 } })
  t.same(await closed.check(JOB), { source: 'client', decision: 'DENY', reason: 'arbiter answered 503: shutting down', error: { code: 'ARBITER_ERR_SHUTTING_DOWN', message: 'shutting down', statusCode: 503 } })
  t.same(await closed.check(JOB), { source: 'client', decision: 'DENY', reason: 'arbiter answered 500: ARBITER_ERR_ODD', error: { code: 'ARBITER_ERR_ODD', message: 'ARBITER_ERR_ODD', statusCode: 500 } })
  const opened: FailOpenEvent[] = []
  const open = new ArbiterClient({ baseUrl: url, token: 'tok', failMode: 'open', onFailOpen: (e) => opened.push(e) })
  t.match(await open.check(JOB), { source: 'fail_open', decision: 'ALLOW', error: { code: 'ARBITER_ERR_INTERNAL', statusCode: 500 } })
  t.same(opened, [{ job_id: 'job-1', error: 'arbiter answered 500: Internal Server Error', code: 'ARBITER_ERR_INTERNAL' }])
})

t.test('the deadline: a server that never answers is a DENY, and the request is aborted', async (t) => {
  const sockets: net.Socket[] = []
  const url = await rawServer(t, (req) => { sockets.push(req.socket) })
  const client = new ArbiterClient({ baseUrl: url, token: 'tok', deadlineMs: 200 })
  const started = performance.now()
  const result = await client.check(JOB)
  const elapsed = performance.now() - started
  const reason = 'arbiter timed out: no answer within 200 ms'
  t.same(result, { source: 'client', decision: 'DENY', reason, error: { code: 'ARBITER_CLIENT_ERR_TIMEOUT', message: reason } })
  t.ok(elapsed >= 195 && elapsed < 1500, `answered after ${Math.round(elapsed)} ms`)
  t.equal(sockets.length, 1)
  await t.resolves(Promise.race([
    once(sockets[0], 'close'),
    new Promise((resolve, reject) => setTimeout(() => reject(new Error('the socket stayed open')), 1000).unref())
  ]), 'the stalled server sees its socket closed')

  const open = new ArbiterClient({ baseUrl: url, token: 'tok', deadlineMs: 100, failMode: 'open', onFailOpen: () => {} })
  t.match(await open.check(JOB), { source: 'fail_open', decision: 'ALLOW', error: { code: 'ARBITER_CLIENT_ERR_TIMEOUT' } })
})

t.test('a 503 from Arbiter that could not record the decision is a DENY that keeps its trace', async (t) => {
  // Without keys, so that only the recording meets the stalled database (as in record-failure.test.ts).
  const { ctx, url } = await arbiter(t, { CHECK_BUDGET_MS: '300', ARBITER_AUTH: 'disabled' })
  const release = await holdTableLock(ctx.testDb, 'audit_log')
  try {
    const closed = await new ArbiterClient({ baseUrl: url, token: 'tok' }).check({ ...JOB, trace_id: 'trace-503' })
    t.match(closed, {
      source: 'client',
      decision: 'DENY',
      reason: /^arbiter answered 503: decision could not be recorded: /,
      error: { code: 'ARBITER_ERR_RECORD_UNAVAILABLE', statusCode: 503, message: /^decision could not be recorded: / },
      trace_id: 'trace-503',
      job_hash: /^sha256:[0-9a-f]{64}$/,
      policy_snapshot: /^sha256:[0-9a-f]{64}$/
    })
    const open = await new ArbiterClient({ baseUrl: url, token: 'tok', failMode: 'open', onFailOpen: () => {} }).check({ ...JOB, trace_id: 'trace-503b' })
    t.match(open, { source: 'fail_open', decision: 'ALLOW', reason: /^failing open: arbiter answered 503: /, trace_id: 'trace-503b', error: { statusCode: 503 } })
  } finally {
    await release()
  }
})

t.test('answers that are not decisions are a DENY', async (t) => {
  const answers: Array<[number, string, string]> = [
    [200, 'not json{', 'arbiter answered an unreadable decision: the body is not JSON'],
    [200, '[1]', 'arbiter answered an unreadable decision: the body is not a JSON object'],
    [200, JSON.stringify(decisionBody('MAYBE')), 'arbiter answered an unreadable decision: unknown decision "MAYBE"'],
    [200, JSON.stringify({ reason: 'no decision' }), 'arbiter answered an unreadable decision: unknown decision undefined'],
    [200, JSON.stringify({ decision: 'ALLOW' }), 'arbiter answered an unreadable decision: no reason'],
    [200, JSON.stringify(decisionBody('THROTTLE', { retry_after_ms: '5' })), 'arbiter answered an unreadable decision: retry_after_ms is not a number of milliseconds'],
    [200, JSON.stringify(decisionBody('ALLOW_WITH_CONSTRAINTS', { constraints: [] })), 'arbiter answered an unreadable decision: constraints is not an object'],
    [200, JSON.stringify(decisionBody('ALLOW_WITH_CONSTRAINTS')), 'arbiter answered an unreadable decision: ALLOW_WITH_CONSTRAINTS without constraints'],
    [201, JSON.stringify(decisionBody('ALLOW')), 'arbiter answered an unexpected 201'],
    [302, '', 'arbiter answered 302 without an Arbiter error body'],
    [502, '<html>bad gateway</html>', 'arbiter answered 502 without an Arbiter error body']
  ]
  let i = 0
  const url = await rawServer(t, (_req, res) => {
    const [status, body] = answers[i++]
    send(res, status, body, status === 302 ? { location: '/elsewhere' } : {})
  })
  const client = new ArbiterClient({ baseUrl: url, token: 'tok' })
  for (const [status, , reason] of answers) {
    t.same(await client.check(JOB), { source: 'client', decision: 'DENY', reason, error: { code: 'ARBITER_CLIENT_ERR_BAD_RESPONSE', message: reason, statusCode: status } }, reason)
  }
  t.equal(i, answers.length, 'one request for each, and no redirect followed')
})

t.test('ALLOW_WITH_CONSTRAINTS without constraints is a bad response: DENY failing closed, ALLOW failing open', async (t) => {
  const url = await rawServer(t, (_req, res) => { send(res, 200, decisionBody('ALLOW_WITH_CONSTRAINTS')) })
  const reason = 'arbiter answered an unreadable decision: ALLOW_WITH_CONSTRAINTS without constraints'
  const error = { code: 'ARBITER_CLIENT_ERR_BAD_RESPONSE', message: reason, statusCode: 200 }
  t.same(await new ArbiterClient({ baseUrl: url, token: 'tok' }).check(JOB), { source: 'client', decision: 'DENY', reason, error })
  const opened: FailOpenEvent[] = []
  const open = new ArbiterClient({ baseUrl: url, token: 'tok', failMode: 'open', onFailOpen: (e) => opened.push(e) })
  t.same(await open.check(JOB), { source: 'fail_open', decision: 'ALLOW', reason: `failing open: ${reason}`, error })
  t.same(opened, [{ job_id: 'job-1', error: reason, code: error.code }])
})

t.test('reportEvent records events of a checked job and throws with the code when refused', async (t) => {
  const { url, token } = await arbiter(t)
  const client = new ArbiterClient({ baseUrl: url, token })
  const checked = await client.check({ job_id: 'batch/42', topic: 'job.read.ticket', tenant_id: 'acme', trace_id: 'incident-9' })
  t.equal(checked.decision, 'ALLOW')

  const dispatched = await client.reportEvent('batch/42', { status: 'DISPATCHED', tenant_id: 'acme' })
  t.match(dispatched, { job_id: 'batch/42', tenant_id: 'acme', trace_id: 'incident-9', status: 'DISPATCHED', seq: 2, at: /^\d{4}-\d\d-\d\dT/, signature: /^hmac-sha256:/ })
  t.equal((await client.reportEvent('batch/42', { status: 'SUCCEEDED', tenant_id: 'acme', detail: 'exit 0' })).seq, 3)

  const refused = async (jobId: string, status: 'RUNNING'): Promise<unknown> => await client.reportEvent(jobId, { status, tenant_id: 'acme' }).then(() => null, (err: unknown) => err)
  const final = await refused('batch/42', 'RUNNING')
  t.ok(final instanceof ArbiterClientError)
  t.match(final, { name: 'ArbiterClientError', statusCode: 409, code: 'ARBITER_ERR_JOB_FINAL' })
  const unknown = await refused('never-checked', 'RUNNING')
  t.ok(unknown instanceof ArbiterClientError)
  t.match(unknown, { statusCode: 404, code: 'ARBITER_ERR_NOT_FOUND', message: 'arbiter answered 404: no job never-checked' })

  const gone = new ArbiterClient({ baseUrl: `http://127.0.0.1:${await closedPort()}`, token })
  await t.rejects(gone.reportEvent('batch/42', { status: 'RUNNING' }), { name: 'ArbiterClientError', code: 'ARBITER_CLIENT_ERR_UNREACHABLE', statusCode: undefined })
})

t.test('reportEvent: a stalled server times out and a 201 that is not an event is refused', async (t) => {
  let n = 0
  const url = await rawServer(t, (_req, res) => { if (n++ > 0) send(res, 201, '{"ok":true}') })
  const client = new ArbiterClient({ baseUrl: url, token: 'tok', deadlineMs: 150 })
  await t.rejects(client.reportEvent('j', { status: 'RUNNING' }), { code: 'ARBITER_CLIENT_ERR_TIMEOUT', message: 'arbiter timed out: no answer within 150 ms' })
  await t.rejects(client.reportEvent('j', { status: 'RUNNING' }), { code: 'ARBITER_CLIENT_ERR_BAD_RESPONSE', statusCode: 201 })
})

/** A server that answers THROTTLE `throttles` times, then ALLOW; it counts the requests. */
async function throttling (t: Test, throttles: number, body: Record<string, unknown>): Promise<{ url: string, requests: () => number }> {
  let requests = 0
  const url = await rawServer(t, (req, res) => {
    requests++
    req.resume()
    if (requests <= throttles) send(res, 200, decisionBody('THROTTLE', body), { 'retry-after': '1' })
    else send(res, 200, decisionBody('ALLOW'))
  })
  return { url, requests: () => requests }
}

t.test('THROTTLE is retried after retry_after_ms while the waits fit in maxWaitMs', async (t) => {
  const server = await throttling(t, 1, { retry_after_ms: 150 })
  const client = new ArbiterClient({ baseUrl: server.url, token: 'tok' })
  const started = performance.now()
  const result = await client.check(JOB, { retryThrottle: { maxWaitMs: 1000 } })
  const elapsed = performance.now() - started
  t.match(result, { source: 'arbiter', decision: 'ALLOW' })
  t.equal(server.requests(), 2)
  t.ok(elapsed >= 150, `waited ${Math.round(elapsed)} ms, at least retry_after_ms`)
  t.ok(elapsed < 900, 'retry_after_ms is preferred to Retry-After: 1')
})

t.test('a real Arbiter\'s rate limit: the client waits out retry_after_ms and is admitted', async (t) => {
  const { url, token } = await arbiter(t)
  const client = new ArbiterClient({ baseUrl: url, token })
  const first = await client.check({ job_id: 'n1', topic: 'job.notify.sms' })
  t.equal(first.decision, 'ALLOW')
  const bare = await client.check({ job_id: 'n2', topic: 'job.notify.sms' })
  t.equal(bare.decision, 'THROTTLE', 'without retryThrottle the THROTTLE comes back')
  const wait = bare.source === 'arbiter' ? bare.retry_after_ms ?? 0 : 0
  t.ok(wait > 0 && wait <= 1000, `Arbiter says how long: ${wait} ms`)
  // (How long it waited is the raw-server tests' business: here the clock is real and shared.)
  const retried = await client.check({ job_id: 'n2', topic: 'job.notify.sms' }, { retryThrottle: { maxWaitMs: 5000 } })
  t.equal(retried.decision, 'ALLOW', 'admitted once n1 left the window')
})

t.test('THROTTLE is returned when the wait would not fit, when not asked to retry, or when aborted', async (t) => {
  const tooLong = await throttling(t, 1, { retry_after_ms: 150 })
  const client = new ArbiterClient({ baseUrl: tooLong.url, token: 'tok' })
  const started = performance.now()
  const result = await client.check(JOB, { retryThrottle: { maxWaitMs: 100 } })
  t.match(result, { source: 'arbiter', decision: 'THROTTLE', retry_after_ms: 150 })
  t.equal(dispatchAction(result), 'retry_later')
  t.equal(tooLong.requests(), 1)
  t.ok(performance.now() - started < 150, 'without waiting')

  const once = await throttling(t, 1, { retry_after_ms: 50 })
  t.match(await new ArbiterClient({ baseUrl: once.url, token: 'tok' }).check(JOB), { decision: 'THROTTLE' })
  t.equal(once.requests(), 1, 'no retry unless asked')

  const headerOnly = await throttling(t, 1, {})
  const fromHeader = await new ArbiterClient({ baseUrl: headerOnly.url, token: 'tok' }).check(JOB, { retryThrottle: { maxWaitMs: 500 } })
  t.match(fromHeader, { decision: 'THROTTLE', retry_after_ms: 1000 }, 'Retry-After (seconds) when the body has no retry_after_ms')
  t.equal(headerOnly.requests(), 1)

  const waiting = await throttling(t, 5, { retry_after_ms: 5000 })
  const controller = new AbortController()
  setTimeout(() => controller.abort(), 100)
  const abortedAt = performance.now()
  const aborted = await new ArbiterClient({ baseUrl: waiting.url, token: 'tok' }).check(JOB, { retryThrottle: { maxWaitMs: 10_000 }, signal: controller.signal })
  t.match(aborted, { source: 'arbiter', decision: 'THROTTLE', retry_after_ms: 5000 })
  t.equal(waiting.requests(), 1)
  t.ok(performance.now() - abortedAt < 1000, 'the wait ends with the abort')
})

t.test('THROTTLE: no hint means no retry; a zero wait still waits a little; an abort during a retry keeps the THROTTLE', async (t) => {
  const noHint = await rawServer(t, (_req, res) => { send(res, 200, decisionBody('THROTTLE')) })
  const plain = await new ArbiterClient({ baseUrl: noHint, token: 'tok' }).check(JOB, { retryThrottle: { maxWaitMs: 1000 } })
  t.match(plain, { source: 'arbiter', decision: 'THROTTLE' })
  t.notOk('retry_after_ms' in plain, 'no wait is made up')

  const zero = await throttling(t, 1, { retry_after_ms: 0 })
  t.match(await new ArbiterClient({ baseUrl: zero.url, token: 'tok' }).check(JOB, { retryThrottle: { maxWaitMs: 1000 } }), { decision: 'ALLOW' })
  t.equal(zero.requests(), 2)
  const tooTight = await throttling(t, 1, { retry_after_ms: 0 })
  t.match(await new ArbiterClient({ baseUrl: tooTight.url, token: 'tok' }).check(JOB, { retryThrottle: { maxWaitMs: 5 } }), { decision: 'THROTTLE' })
  t.equal(tooTight.requests(), 1, 'even a zero wait counts against maxWaitMs')

  let requests = 0
  const stallsOnRetry = await rawServer(t, (_req, res) => { if (requests++ === 0) send(res, 200, decisionBody('THROTTLE', { retry_after_ms: 20 })) })
  const controller = new AbortController()
  setTimeout(() => controller.abort(), 200)
  const kept = await new ArbiterClient({ baseUrl: stallsOnRetry, token: 'tok', failMode: 'open' }).check(JOB, { retryThrottle: { maxWaitMs: 1000 }, signal: controller.signal })
  t.match(kept, { source: 'arbiter', decision: 'THROTTLE', retry_after_ms: 20 })
  t.equal(requests, 2)
})

t.test('once Arbiter said THROTTLE, a retry that fails gives back that THROTTLE, failing open or closed', async (t) => {
  const failures: Array<[string, (req: http.IncomingMessage, res: http.ServerResponse) => void]> = [
    ['stalls past the deadline', () => {}],
    ['answers 503', (_req, res) => { send(res, 503, { statusCode: 503, code: 'ARBITER_ERR_SHUTTING_DOWN', error: 'Service Unavailable', message: 'shutting down' }) }],
    ['answers 503 without an Arbiter body', (_req, res) => { send(res, 503, '<html>unavailable</html>') }],
    ['hangs up', (req) => { req.socket.destroy() }],
    ['answers an unreadable decision', (_req, res) => { send(res, 200, decisionBody('ALLOW_WITH_CONSTRAINTS')) }],
    ['is refused with a 401', (_req, res) => { send(res, 401, { statusCode: 401, code: 'ARBITER_ERR_UNAUTHORIZED', error: 'Unauthorized', message: 'unknown key' }) }]
  ]
  for (const failMode of ['open', 'closed'] as const) {
    for (const [how, fail] of failures) {
      let requests = 0
      const url = await rawServer(t, (req, res) => {
        req.resume()
        if (requests++ === 0) send(res, 200, decisionBody('THROTTLE', { retry_after_ms: 50 }))
        else fail(req, res)
      })
      const opened: FailOpenEvent[] = []
      const client = new ArbiterClient({ baseUrl: url, token: 'tok', deadlineMs: 200, failMode, onFailOpen: (e) => opened.push(e) })
      const result = await client.check(JOB, { retryThrottle: { maxWaitMs: 1000 } })
      t.match(result, { source: 'arbiter', decision: 'THROTTLE', reason: 'raw THROTTLE', retry_after_ms: 50 }, `${failMode}: the retry ${how}`)
      t.notOk('error' in result, `${failMode}: no client error when the retry ${how}`)
      t.equal(requests, 2, `${failMode}: one retry when it ${how}`)
      t.same(opened, [], `${failMode}: nothing failed open when the retry ${how}`)
    }
  }
})

t.test('an aborted check is a DENY, never failed open', async (t) => {
  const opened: FailOpenEvent[] = []
  const url = await rawServer(t, () => {})
  const client = new ArbiterClient({ baseUrl: url, token: 'tok', failMode: 'open', onFailOpen: (e) => opened.push(e) })
  const reason = 'the check was aborted by its caller'
  const deny = { source: 'client', decision: 'DENY', reason, error: { code: 'ARBITER_CLIENT_ERR_ABORTED', message: reason } }
  t.same(await client.check(JOB, { signal: AbortSignal.abort() }), deny, 'aborted before it started')
  const controller = new AbortController()
  setTimeout(() => controller.abort(), 50)
  t.same(await client.check(JOB, { signal: controller.signal }), deny, 'aborted while waiting for the answer')
  t.same(opened, [])
})

t.test('dispatchAction covers every decision', async (t) => {
  const expected: Record<string, string> = { ALLOW: 'dispatch', ALLOW_WITH_CONSTRAINTS: 'dispatch_with_constraints', REQUIRE_APPROVAL: 'wait_for_approval', THROTTLE: 'retry_later', DENY: 'reject' }
  t.same(DECISIONS.map((decision) => dispatchAction({ decision })), DECISIONS.map((d) => expected[d]))
  const failed: CheckResult = { source: 'client', decision: 'DENY', reason: 'x', error: { code: 'c', message: 'x' } }
  t.equal(dispatchAction(failed), 'reject')
  t.equal(dispatchAction({ decision: 'MAYBE' as 'ALLOW' }), 'reject', 'an unknown decision is rejected')
})

t.test('bad options are programmer errors and throw', async (t) => {
  const ok = { baseUrl: 'http://127.0.0.1:1', token: 'tok' }
  const cases: Array<[string, unknown]> = [
    ['options', null],
    ['baseUrl', { ...ok, baseUrl: 'not a url' }],
    ['baseUrl', { ...ok, baseUrl: 'ftp://h/' }],
    ['token', { ...ok, token: '' }],
    ['token', { ...ok, token: 'a\nb' }],
    ['deadlineMs', { ...ok, deadlineMs: 0 }],
    ['deadlineMs', { ...ok, deadlineMs: Infinity }],
    ['failMode', { ...ok, failMode: 'maybe' }],
    ['onFailOpen', { ...ok, onFailOpen: 'log' }],
    ['fetch', { ...ok, fetch: 1 }]
  ]
  for (const [field, options] of cases) {
    t.throws(() => new ArbiterClient(options as never), { name: 'TypeError', message: new RegExp(`^ArbiterClient: ${field}`) }, field)
  }
  const client = new ArbiterClient(ok)
  await t.rejects(client.check(JOB, { retryThrottle: { maxWaitMs: -1 } }), { name: 'TypeError', message: /retryThrottle/ })
  await t.rejects(client.check(JOB, { signal: {} as AbortSignal }), { name: 'TypeError', message: /signal/ })
  await t.rejects(client.reportEvent('', { status: 'RUNNING' }), { name: 'TypeError', message: /jobId/ })
  await t.rejects(client.reportEvent('j', null as never), { name: 'TypeError', message: /event/ })
})

t.test('a path prefix in baseUrl is kept, and an injected fetch is used', async (t) => {
  const seen: Array<{ method?: string, url?: string, authorization?: string, type?: string, body: string }> = []
  const url = await rawServer(t, (req, res) => {
    let body = ''
    req.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', () => {
      seen.push({ method: req.method, url: req.url, authorization: req.headers.authorization, type: req.headers['content-type'], body })
      send(res, 200, decisionBody('ALLOW'))
    })
  })
  let calls = 0
  const counting: typeof fetch = async (input, init) => { calls++; return await fetch(input, init) }
  const client = new ArbiterClient({ baseUrl: `${url}/arbiter`, token: 'tok-1', fetch: counting })
  t.equal((await client.check(JOB)).decision, 'ALLOW')
  t.same(seen, [{ method: 'POST', url: '/arbiter/check', authorization: 'Bearer tok-1', type: 'application/json', body: JSON.stringify(JOB) }])
  t.equal(calls, 1)
})

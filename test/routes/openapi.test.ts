/**
 * openapi.yaml is the contract schedulers and auditors read; this file keeps the app to it.
 * The spec and the app serve the same routes; the spec's schemas are the ones the routes
 * declare (annotations aside); real answers, examples and the request schema validate against
 * the spec, and the spec accepts exactly the check requests the app accepts.
 */
import { once } from 'node:events'
import { readFileSync, writeFileSync } from 'node:fs'
import net, { type AddressInfo } from 'node:net'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { checkCheckpoint } from '../../src/audit/checkpoint.js'
import { PACKAGE_ROOT } from '../../src/paths.js'
import { SHARED_SCHEMAS } from '../../src/schemas/index.js'
import { EXAMPLE_POLICY } from '../fixtures/policies.js'
import { testApp, testDatabase } from '../helpers.js'
import { breakable } from '../support/breakable-db.js'
import {
  assertDocumented, AUTH_STATUSES, CONSOLE_TYPES, declaredRoutes, documentedAccess, ERROR, escape, fromRoute, fromSpec, JSON_TYPE, jsonSchemaOf, METRICS_TYPE,
  operation, parametersSchema, registeredRoutes, resolveResponse, spec, specOperations, toFastifyPath, toTemplate, validatorAt,
  type Answer, type MediaType
} from '../support/openapi.js'
import { readResponses } from '../support/raw-http.js'

/** A grant id no grant has, to fill `{grant_id}` in. */
const NO_GRANT = '00000000-0000-4000-8000-000000000000'

t.test('the spec is OpenAPI 3.1 and versioned with the package', async (t) => {
  t.match(spec.openapi, /^3\.1\.\d+$/)
  const pkg = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }
  t.equal(spec.info.version, pkg.version)
  for (const [template, item] of Object.entries(spec.paths)) {
    t.notOk('parameters' in item, `${template}: parameters are stated per operation, where this test compares them`)
  }
  for (const { method, template, op } of specOperations()) {
    for (const [status, response] of Object.entries(op.responses)) {
      t.match(status, /^[1-5]\d\d$/, `${method} ${template}: responses are keyed by status code`)
      const { response: r } = resolveResponse(response, '')
      const types = status !== '200' ? [JSON_TYPE] : template === '/metrics' ? [METRICS_TYPE] : CONSOLE_TYPES[template] ?? [JSON_TYPE]
      t.same(Object.keys(r.content ?? {}), types, `${method} ${template} ${status}: answered as ${types.join(' or ')}`)
    }
  }
  t.same(spec.security, [{ bearerAuth: [] }], 'every operation needs a bearer token unless it says otherwise')
  t.match(spec.components.securitySchemes?.bearerAuth, { type: 'http', scheme: 'bearer' })
})

t.test('the app serves exactly the routes the spec describes', async (t) => {
  const { app } = await testApp(t)
  const registered = registeredRoutes(t, app)
  t.ok(registered.length > 0, 'routes were read from the app')
  for (const route of registered) {
    const [method, url] = route.split(' ')
    t.ok(app.hasRoute({ method: method as 'GET', url }), `${route} is read back as a route the app has`)
    if (method === 'HEAD') t.ok(registered.includes(`GET ${url}`), `HEAD ${url} is only the automatic twin of a GET`)
    if (method === 'GET') t.ok(registered.includes(`HEAD ${url}`), `GET ${url} also answers HEAD, as the spec says`)
  }
  const served = registered.filter((r) => !r.startsWith('HEAD ')).sort()
  const described = specOperations().map(({ method, template }) => `${method} ${toFastifyPath(template)}`).sort()
  t.same(served, described, 'the routes the app serves are the operations in openapi.yaml')
  for (const route of described) {
    const [method, url] = route.split(' ')
    t.ok(app.hasRoute({ method: method as 'GET', url }), `the app has ${route}`)
  }
  const declared = declaredRoutes().map((r) => `${String(r.method)} ${r.url}`).sort()
  t.same(declared, served, 'this test sees every route module buildApp registers')
})

t.test('the spec states the schemas the routes declare', async (t) => {
  for (const shared of SHARED_SCHEMAS) {
    const documented = spec.components.schemas[shared.$id]
    t.ok(documented, `components/schemas/${shared.$id} exists`)
    t.strictSame(fromSpec(documented), fromRoute(shared), `components/schemas/${shared.$id} is the ${shared.$id} schema the app registers`)
  }

  for (const route of declaredRoutes()) {
    const template = toTemplate(route.url)
    const name = `${String(route.method)} ${template}`
    const op = operation(String(route.method), template)
    if (op === undefined) {
      t.fail(`${name} is not in the spec`)
      continue
    }
    const schema = route.schema ?? {}
    t.notOk(schema.headers, `${name}: no header schema the spec would have to state`)
    const isPublic = route.config?.access === 'public'
    t.equal(op.security !== undefined && op.security.length === 0, isPublic, `${name}: ${isPublic ? 'public, as the spec says' : 'needs a token, as the spec says'}`)
    for (const status of AUTH_STATUSES) t.equal(status in op.responses, !isPublic, `${name}: ${status} ${isPublic ? 'cannot happen' : 'is documented'}`)
    if (!isPublic) {
      const documented = documentedAccess(op)
      const access = route.config?.access as string[]
      t.same(documented.roles, [...new Set([...access, 'admin'])].sort(), `${name}: the roles the spec names are the route's`)
      t.equal(documented.allTenants, route.config?.allTenants === true, `${name}: ${route.config?.allTenants === true ? 'needs' : 'does not need'} a key for every tenant, as the spec says`)
    }

    const body = op.requestBody === undefined ? undefined : fromSpec(op.requestBody.content[JSON_TYPE]?.schema)
    t.strictSame(body, schema.body === undefined ? undefined : fromRoute(schema.body), `${name}: request body`)
    if (op.requestBody !== undefined) t.equal(op.requestBody.required, true, `${name}: the body is required`)

    const parameters = op.parameters ?? []
    t.ok(parameters.every((p) => p.in === 'path' || p.in === 'query'), `${name}: only path and query parameters`)
    t.strictSame(parametersSchema(op, 'path'), schema.params === undefined ? undefined : fromRoute(schema.params), `${name}: path parameters`)
    t.strictSame(parametersSchema(op, 'query'), schema.querystring === undefined ? undefined : fromRoute(schema.querystring), `${name}: query parameters`)

    const declared = (schema.response ?? {}) as Record<string, unknown>
    for (const [status, routeSchema] of Object.entries(declared)) {
      const response = op.responses[status]
      if (response === undefined) {
        t.fail(`${name} declares ${status}; the spec does not`)
        continue
      }
      const documented = fromSpec(jsonSchemaOf(resolveResponse(response, '').response))
      t.strictSame(documented, fromRoute(routeSchema), `${name} ${status}`)
    }
    for (const [status, response] of Object.entries(op.responses)) {
      if (status in declared) continue
      const resolved = resolveResponse(response, '').response
      if (resolved.content?.[METRICS_TYPE] !== undefined || (status === '200' && template in CONSOLE_TYPES)) continue
      const documented = fromSpec(jsonSchemaOf(resolved))
      // What the spec may add to a route's own list: the error handler's 500, the draining 503,
      // and the authentication hook's answers.
      t.ok(['500', '503', ...AUTH_STATUSES].includes(status), `${name} ${status} is in the spec but not declared by the route`)
      t.strictSame(documented, ERROR, `${name} ${status} (from the error handler or an onRequest hook)`)
    }
    t.ok('503' in op.responses, `${name}: the draining 503 is documented`)
  }
})

t.test('every example in the spec matches its schema', async (t) => {
  const mediaTypes: Array<[string, string, MediaType]> = []
  for (const { method, template, op } of specOperations()) {
    const base = `/paths/${escape(template)}/${method.toLowerCase()}`
    const body = op.requestBody?.content[JSON_TYPE]
    if (body !== undefined) mediaTypes.push([`${method} ${template} request`, `${base}/requestBody/content/${escape(JSON_TYPE)}/schema`, body])
    for (const [status, response] of Object.entries(op.responses)) {
      if (response.$ref !== undefined) continue
      const media = response.content?.[JSON_TYPE]
      if (media !== undefined) mediaTypes.push([`${method} ${template} ${status}`, `${base}/responses/${status}/content/${escape(JSON_TYPE)}/schema`, media])
    }
    for (const [i, p] of (op.parameters ?? []).entries()) {
      if (p.example !== undefined) mediaTypes.push([`${method} ${template} ${p.name}`, `${base}/parameters/${i}/schema`, { example: p.example }])
    }
  }
  for (const [name, response] of Object.entries(spec.components.responses)) {
    const media = response.content?.[JSON_TYPE]
    if (media !== undefined) mediaTypes.push([`responses/${name}`, `/components/responses/${name}/content/${escape(JSON_TYPE)}/schema`, media])
  }
  let count = 0
  for (const [name, pointer, media] of mediaTypes) {
    const examples: Array<[string, unknown]> = Object.entries(media.examples ?? {}).map(([k, e]) => [k, e.value])
    if (media.example !== undefined) examples.push(['example', media.example])
    const validate = validatorAt(pointer)
    for (const [label, value] of examples) {
      count++
      t.ok(validate(value), `${name} (${label})`, { errors: validate.errors })
    }
  }
  t.ok(count > 0, `${count} examples checked`)
})

t.test('the /check examples are what the app answers', async (t) => {
  const ctx = await testApp(t)
  const requests = operation('POST', '/check')?.requestBody?.content[JSON_TYPE]?.examples ?? {}
  const answers = operation('POST', '/check')?.responses['200']?.content?.[JSON_TYPE]?.examples ?? {}
  const paired = Object.keys(requests).filter((k) => k in answers)
  t.ok(paired.length >= 4, `${paired.length} request examples have their answer beside them`)
  for (const name of paired) {
    const res = await ctx.app.inject({ method: 'POST', url: '/check', payload: requests[name].value as Record<string, unknown> })
    t.equal(res.statusCode, 200, `${name}: 200`)
    const got = res.json()
    const documented = answers[name].value as Record<string, unknown>
    // decision_id, checked_at and signature differ per answer; policy_snapshot follows edits to the starter policy.
    for (const k of ['decision', 'reason', 'rule_id', 'matched_rules', 'constraints', 'job_hash', 'trace_id']) {
      t.same(got[k], documented[k], `${name}: ${k} as documented`)
    }
  }
  const simulate = operation('POST', '/check/simulate')
  const res = await ctx.app.inject({ method: 'POST', url: '/check/simulate', payload: simulate?.requestBody?.content[JSON_TYPE]?.example as Record<string, unknown> })
  const documented = simulate?.responses['200']?.content?.[JSON_TYPE]?.example as Record<string, unknown>
  t.same({ ...res.json(), policy_snapshot: undefined }, { ...documented, policy_snapshot: undefined }, 'the simulation example is what the app answers')
})

t.test('the answers of every route match the spec', async (t) => {
  const ctx = await testApp(t)
  const inject = ctx.app.inject.bind(ctx.app)

  assertDocumented(t, await inject({ url: '/health' }), 'GET', '/health')
  const ready = assertDocumented(t, await inject({ url: '/ready' }), 'GET', '/ready')
  t.equal(ready.status, 'ready')

  const decisions: Array<[Record<string, unknown>, string]> = [
    [{ job_id: 'r1', topic: 'job.mcp-bridge.read.ticket' }, 'ALLOW'],
    [{ job_id: 'w1', topic: 'job.mcp-bridge.write.ticket', risk_tags: ['prod'] }, 'REQUIRE_APPROVAL'],
    [{ job_id: 'e1', topic: 'job.agent.exec.shell', risk_tags: ['medium'] }, 'ALLOW_WITH_CONSTRAINTS'],
    [{ job_id: 'w2', topic: 'job.mcp-bridge.write.ticket', risk_tags: ['prod', 'destructive'] }, 'DENY'],
    [{ job_id: 'u1', topic: 'job.unknown.thing', tenant_id: 'acme', labels: { env: 'dev' }, trace_id: 'trace-1' }, 'DENY']
  ]
  for (const [payload, decision] of decisions) {
    const body = assertDocumented(t, await inject({ method: 'POST', url: '/check', payload }), 'POST', '/check')
    t.equal(body.decision, decision, `${String(payload.job_id)} → ${decision}`)
    const sim = assertDocumented(t, await inject({ method: 'POST', url: '/check/simulate', payload }), 'POST', '/check/simulate')
    t.equal(sim.decision, decision, `${String(payload.job_id)} simulated → ${decision}`)
  }

  const bad: Array<[string, { payload?: string, headers?: Record<string, string> }, number, string]> = [
    ['an unknown field', { payload: '{"job_id":"a","topic":"a.b","approved":true}' }, 400, 'ARBITER_ERR_VALIDATION'],
    ['malformed JSON', { payload: '{"job_id":' }, 400, 'ARBITER_ERR_INVALID_JSON'],
    ['an oversize body', { payload: JSON.stringify({ job_id: 'a', topic: 'a.b', args: { pad: 'x'.repeat(ctx.config.bodyLimitBytes) } }) }, 400, 'ARBITER_ERR_BODY_TOO_LARGE'],
    ['text/plain', { payload: '{"job_id":"a","topic":"a.b"}', headers: { 'content-type': 'text/plain' } }, 415, 'ARBITER_ERR_UNSUPPORTED_MEDIA_TYPE']
  ]
  for (const url of ['/check', '/check/simulate']) {
    for (const [name, req, status, code] of bad) {
      const res = await inject({ method: 'POST', url, payload: req.payload, headers: { 'content-type': JSON_TYPE, ...req.headers } })
      t.equal(res.statusCode, status, `${url} ${name}: ${status}`)
      t.equal(assertDocumented(t, res, 'POST', url).code, code)
    }
  }

  for (const [method, url] of [['GET', '/nope'], ['DELETE', '/check'], ['GET', '/check']] as const) {
    t.equal(assertDocumented(t, await inject({ method, url }), method, null).code, 'ARBITER_ERR_NOT_FOUND', `${method} ${url}`)
  }

  const current = assertDocumented(t, await inject({ url: '/policies/current' }), 'GET', '/policies/current')
  const snapshotPath = '/policies/snapshots/{snapshot_id}'
  const snapshot = assertDocumented(t, await inject({ url: `/policies/snapshots/${String(current.snapshot_id)}` }), 'GET', snapshotPath)
  t.equal(snapshot.snapshot_id, current.snapshot_id)
  const missing = await inject({ url: `/policies/snapshots/sha256:${'ab'.repeat(32)}` })
  t.equal(missing.statusCode, 404)
  t.equal(assertDocumented(t, missing, 'GET', snapshotPath).code, 'ARBITER_ERR_NOT_FOUND')
  for (const id of ['nope', `sha256:${'AB'.repeat(32)}`, `sha256:${'a'.repeat(63)}`]) {
    const malformed = await inject({ url: `/policies/snapshots/${id}` })
    t.equal(malformed.statusCode, 400, `${id}: 400`)
    t.equal(assertDocumented(t, malformed, 'GET', snapshotPath).code, 'ARBITER_ERR_VALIDATION')
  }
})

t.test('the job, trace and decision routes answer as the spec says', async (t) => {
  // A clock a second apart per reading, so "newest first" is not decided by equal timestamps.
  let tick = 0
  const ctx = await testApp(t, { deps: { clock: { now: () => new Date(Date.UTC(2026, 10, 25) + 1000 * tick++) } } })
  const inject = ctx.app.inject.bind(ctx.app)
  const eventsPath = '/jobs/{job_id}/events'
  const event = async (jobId: string, payload: Record<string, unknown>): Promise<Answer> =>
    await inject({ method: 'POST', url: `/jobs/${encodeURIComponent(jobId)}/events`, payload })

  const checks: Array<Record<string, unknown>> = [
    { job_id: 'job/1', topic: 'job.mcp-bridge.read.ticket', tenant_id: 'acme', trace_id: 'trace-jobs' },
    { job_id: 'job-2', topic: 'job.mcp-bridge.write.ticket', tenant_id: 'acme', risk_tags: ['prod'], trace_id: 'trace-jobs' },
    { job_id: 'job-3', topic: 'job.agent.exec.shell', risk_tags: ['medium'] }
  ]
  const decided: Array<Record<string, unknown>> = []
  for (const payload of checks) decided.push(assertDocumented(t, await inject({ method: 'POST', url: '/check', payload }), 'POST', '/check'))

  // Job events: recorded (201), and every refusal in its documented shape.
  const dispatched = await event('job/1', { tenant_id: 'acme', status: 'DISPATCHED' })
  t.equal(dispatched.statusCode, 201)
  t.match(assertDocumented(t, dispatched, 'POST', eventsPath), { job_id: 'job/1', tenant_id: 'acme', trace_id: 'trace-jobs', status: 'DISPATCHED', seq: 4 })
  const succeeded = await event('job/1', { tenant_id: 'acme', status: 'SUCCEEDED', detail: 'exit 0' })
  t.equal(succeeded.statusCode, 201)
  t.match(assertDocumented(t, succeeded, 'POST', eventsPath), { status: 'SUCCEEDED', seq: 5 })
  const refused: Array<[string, string, Record<string, unknown> | string, number, string]> = [
    ['a status after the terminal one', 'job/1', { tenant_id: 'acme', status: 'RUNNING' }, 409, 'ARBITER_ERR_JOB_FINAL'],
    ['a second terminal status', 'job/1', { tenant_id: 'acme', status: 'FAILED' }, 409, 'ARBITER_ERR_JOB_FINAL'],
    ['an unknown job', 'job-9', { tenant_id: 'acme', status: 'RUNNING' }, 404, 'ARBITER_ERR_NOT_FOUND'],
    ['another tenant\'s job', 'job/1', { status: 'RUNNING' }, 404, 'ARBITER_ERR_NOT_FOUND'],
    ['an unknown status', 'job-2', { tenant_id: 'acme', status: 'DONE' }, 400, 'ARBITER_ERR_VALIDATION'],
    ['an unknown field', 'job-2', { tenant_id: 'acme', status: 'RUNNING', extra: 1 }, 400, 'ARBITER_ERR_VALIDATION'],
    ['no status', 'job-2', { tenant_id: 'acme' }, 400, 'ARBITER_ERR_VALIDATION'],
    ['a job_id with a space', 'a b', { status: 'RUNNING' }, 400, 'ARBITER_ERR_VALIDATION'],
    ['malformed JSON', 'job-2', '{"status":', 400, 'ARBITER_ERR_INVALID_JSON']
  ]
  for (const [name, jobId, payload, status, code] of refused) {
    const res = typeof payload === 'string'
      ? await inject({ method: 'POST', url: `/jobs/${jobId}/events`, payload, headers: { 'content-type': JSON_TYPE } })
      : await event(jobId, payload)
    t.equal(res.statusCode, status, `${name}: ${status}`)
    t.equal(assertDocumented(t, res, 'POST', eventsPath).code, code, `${name}: ${code}`)
  }
  const text = await inject({ method: 'POST', url: '/jobs/job-2/events', payload: '{"status":"RUNNING"}', headers: { 'content-type': 'text/plain' } })
  t.equal(text.statusCode, 415)
  t.equal(assertDocumented(t, text, 'POST', eventsPath).code, 'ARBITER_ERR_UNSUPPORTED_MEDIA_TYPE')

  // The trace: both decisions, the approval the second one asked for, and the job's events, oldest first.
  const tracePath = '/traces/{trace_id}'
  const trace = await inject({ url: '/traces/trace-jobs' })
  t.equal(trace.statusCode, 200)
  const entries = assertDocumented(t, trace, 'GET', tracePath).entries as Array<Record<string, unknown>>
  t.same(entries.map((e) => [e.seq, e.type, e.job_id, e.decision, e.status, e.approval_state]), [
    [1, 'decision', 'job/1', 'ALLOW', null, null],
    [2, 'approval.requested', 'job-2', null, null, 'PENDING'],
    [3, 'decision', 'job-2', 'REQUIRE_APPROVAL', null, 'PENDING'],
    [4, 'job.event', 'job/1', 'ALLOW', 'DISPATCHED', null],
    [5, 'job.event', 'job/1', 'ALLOW', 'SUCCEEDED', null]
  ], 'each entry as documented')
  t.match(trace.json().jobs, [{ job_id: 'job/1', terminal_status: 'SUCCEEDED' }, { job_id: 'job-2', terminal_status: null }])
  t.equal(assertDocumented(t, await inject({ url: '/traces/nothing-here' }), 'GET', tracePath).code, 'ARBITER_ERR_NOT_FOUND')
  for (const id of ['a%2Fb', 'a%20b']) {
    const res = await inject({ url: `/traces/${id}` })
    t.equal(res.statusCode, 400, `trace id ${id}: 400`)
    t.equal(assertDocumented(t, res, 'GET', tracePath).code, 'ARBITER_ERR_VALIDATION')
  }

  // A job's story, and a report of a job that ran without an ALLOW: a violation, recorded and refused.
  const violation = await event('job-2', { tenant_id: 'acme', status: 'DISPATCHED' })
  t.equal(violation.statusCode, 409)
  t.match(assertDocumented(t, violation, 'POST', eventsPath), { code: 'ARBITER_ERR_NOT_AUTHORIZED', violation: { job_id: 'job-2', kind: 'ran_without_allow', decision: 'REQUIRE_APPROVAL', seq: 6 } })
  const storyPath = '/jobs/{job_id}'
  const story = assertDocumented(t, await inject({ url: '/jobs/job-2?tenant_id=acme' }), 'GET', storyPath)
  t.match(story, { job_id: 'job-2', trace_id: /^job-/, traces: ['trace-jobs'], decision: { decision: 'REQUIRE_APPROVAL' }, approval: { approval_state: 'PENDING' }, violations: 1 })
  t.same((story.entries as Array<Record<string, unknown>>).map((e) => e.type), ['approval.requested', 'decision', 'job.violation'])
  t.equal(assertDocumented(t, await inject({ url: '/jobs/job-9?tenant_id=acme' }), 'GET', storyPath).code, 'ARBITER_ERR_NOT_FOUND')
  t.equal(assertDocumented(t, await inject({ url: '/jobs/job-2?tenant=acme' }), 'GET', storyPath).code, 'ARBITER_ERR_VALIDATION')
  const violations = assertDocumented(t, await inject({ url: '/violations?tenant_id=acme' }), 'GET', '/violations')
  t.match(violations, { violations: [{ job_id: 'job-2', status: 'DISPATCHED', seq: 6 }], next_cursor: null })
  t.equal(assertDocumented(t, await inject({ url: '/violations?limit=0' }), 'GET', '/violations').code, 'ARBITER_ERR_VALIDATION')

  // Decisions: newest first, a page and the next through its cursor.
  const first = await inject({ url: '/decisions?limit=2' })
  t.equal(first.statusCode, 200)
  const page1 = assertDocumented(t, first, 'GET', '/decisions')
  t.type(page1.next_cursor, 'string', 'more decisions: a next_cursor')
  const page2 = assertDocumented(t, await inject({ url: `/decisions?limit=2&cursor=${String(page1.next_cursor)}` }), 'GET', '/decisions')
  t.equal(page2.next_cursor, null, 'the last page has no next_cursor')
  const listed = [...page1.decisions as Array<Record<string, unknown>>, ...page2.decisions as Array<Record<string, unknown>>]
  t.same(listed.map((d) => d.decision_id), decided.map((d) => d.decision_id).reverse(), 'every decision once, newest first')
  t.match(listed[0], { job_id: 'job-3', tenant_id: 'default', topic: 'job.agent.exec.shell', decision: 'ALLOW_WITH_CONSTRAINTS', constraints: decided[2].constraints, signature: decided[2].signature })
  const filtered = assertDocumented(t, await inject({ url: '/decisions?tenant_id=acme&decision=REQUIRE_APPROVAL&topic=job.mcp-bridge.write.ticket' }), 'GET', '/decisions')
  t.same((filtered.decisions as Array<Record<string, unknown>>).map((d) => d.job_id), ['job-2'], 'filters combine')
  assertDocumented(t, await inject({ url: '/decisions?limit=500' }), 'GET', '/decisions')
  for (const bad of ['cursor=bm9wZQ', 'cursor=WzFd', 'cursor=!!', 'limit=0', 'limit=501', 'limit=999', 'limit=1000', 'limit=-1', 'decision=MAYBE', 'since=yesterday', 'colour=red']) {
    const res = await inject({ url: `/decisions?${bad}` })
    t.equal(res.statusCode, 400, `${bad}: 400`)
    t.equal(assertDocumented(t, res, 'GET', '/decisions').code, 'ARBITER_ERR_VALIDATION', bad)
  }

  // Path parameters as long as their schemas allow must reach the routes. Fastify refuses a
  // parameter over its maxParamLength (100 by default) with a 414 outside the catalogue.
  const longId = 'j'.repeat(256)
  t.equal((await inject({ method: 'POST', url: '/check', payload: { job_id: longId, topic: 'job.mcp-bridge.read.ticket', trace_id: 't'.repeat(128) } })).statusCode, 200)
  t.equal((await event(longId, { status: 'RUNNING' })).statusCode, 201, 'a job_id of 256 characters, as /check accepts it, can report events')
  t.equal((await event('j'.repeat(257), { status: 'RUNNING' })).statusCode, 400, 'a job_id of 257 characters is a 400')
  t.equal((await inject({ url: `/traces/${'t'.repeat(128)}` })).statusCode, 200, 'a trace_id of 128 characters, as /check accepts it, can be read back')
  t.equal((await inject({ url: `/traces/${'t'.repeat(129)}` })).statusCode, 400, 'a trace_id of 129 characters is a 400')
})

t.test('the audit routes answer as the spec says, and checkpoints verify as it describes', async (t) => {
  const ctx = await testApp(t, { env: { CHECKPOINT_EVERY: '2' } })
  const inject = ctx.app.inject.bind(ctx.app)
  for (let i = 0; i < 5; i++) {
    const res = await inject({ method: 'POST', url: '/check', payload: { job_id: `c${i}`, topic: 'job.mcp-bridge.read.ticket', tenant_id: 'acme' } })
    t.equal(res.statusCode, 200)
  }
  await ctx.app.checkpointer.idle()

  const keys = assertDocumented(t, await inject({ url: '/audit/keys' }), 'GET', '/audit/keys').keys as Array<Record<string, unknown>>
  t.match(keys.find((k) => k.algorithm === 'hmac-sha256'), { key_id: ctx.deps.key.id, public_key: null, valid_until: null }, 'the HMAC key is named, never shown')
  const publicKeys = new Map(keys.filter((k) => k.algorithm === 'ed25519').map((k) => [String(k.key_id), String(k.public_key)]))
  t.equal(publicKeys.size, 1, 'the Ed25519 key is published')

  const all = assertDocumented(t, await inject({ url: '/audit/checkpoints?tenant_id=acme' }), 'GET', '/audit/checkpoints')
  const checkpoints = all.checkpoints as Array<Parameters<typeof checkCheckpoint>[0]>
  t.same(checkpoints.map((c) => c.seq), [2, 4], 'a checkpoint every 2 records')
  for (const c of checkpoints) t.equal(checkCheckpoint(c, publicKeys), null, `checkpoint ${c.seq} verifies with the published key`)
  const next = assertDocumented(t, await inject({ url: '/audit/checkpoints?tenant_id=acme&after_seq=2&limit=1' }), 'GET', '/audit/checkpoints')
  t.same((next.checkpoints as Array<{ seq: number }>).map((c) => c.seq), [4], 'after_seq and limit page through them')
  t.same(assertDocumented(t, await inject({ url: '/audit/checkpoints' }), 'GET', '/audit/checkpoints'), { tenant_id: 'default', checkpoints: [] }, 'tenant_id defaults to default')
  const latest = assertDocumented(t, await inject({ url: '/audit/checkpoints/latest' }), 'GET', '/audit/checkpoints/latest')
  t.same(latest, { checkpoints: [checkpoints[1]] }, 'the newest checkpoint of each log, for a monitor to pin')
  const globexOnly = await ctx.token({ principal_id: 'audit-g', roles: ['auditor'], tenants: ['globex'] })
  t.same((await inject({ url: '/audit/checkpoints/latest', headers: { authorization: `Bearer ${globexOnly}` } })).json(), { checkpoints: [] }, 'only the logs the key reaches')
  for (const bad of ['limit=0', 'limit=10000', 'after_seq=-1', 'tenant_id=', 'colour=red']) {
    const res = await inject({ url: `/audit/checkpoints?${bad}` })
    t.equal(res.statusCode, 400, `${bad}: 400`)
    t.equal(assertDocumented(t, res, 'GET', '/audit/checkpoints').code, 'ARBITER_ERR_VALIDATION', bad)
  }
})

t.test('the documented checkpoints verify with the documented key', async (t) => {
  const keys = operation('GET', '/audit/keys')?.responses['200']?.content?.[JSON_TYPE]?.example as { keys: Array<{ key_id: string, algorithm: string, public_key: string | null }> }
  const publicKeys = new Map(keys.keys.filter((k) => k.algorithm === 'ed25519').map((k) => [k.key_id, k.public_key as string]))
  const page = operation('GET', '/audit/checkpoints')?.responses['200']?.content?.[JSON_TYPE]?.example as { checkpoints: Array<Parameters<typeof checkCheckpoint>[0]> }
  t.ok(page.checkpoints.length > 0, 'the example has checkpoints')
  for (const c of page.checkpoints) t.equal(checkCheckpoint(c, publicKeys), null, `example checkpoint ${c.seq} verifies`)
})

t.test('the approval and grant routes answer as the spec says', async (t) => {
  let now = Date.UTC(2026, 10, 25, 12)
  const ctx = await testApp(t, { deps: { clock: { now: () => new Date(now) } } })
  const inject = ctx.app.inject.bind(ctx.app)
  const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })
  const scheduler = await ctx.token({ principal_id: 'sched-1', roles: ['scheduler'] })
  const alice = await ctx.token({ principal_id: 'alice', roles: ['reviewer'] })
  const bob = await ctx.token({ principal_id: 'bob', roles: ['reviewer'] })
  const auditor = await ctx.token({ principal_id: 'audit-1', roles: ['auditor'] })
  const requester = await ctx.token({ principal_id: 'sched-1', roles: ['reviewer'] })
  const agent = await ctx.token({ principal_id: 'agent:bot', roles: ['reviewer'] })
  const aliceAcme = await ctx.token({ principal_id: 'alice', roles: ['reviewer'], tenants: ['acme'] })

  type Body = Record<string, unknown>
  const write = (jobId: string, extra: Body = {}): Body =>
    ({ job_id: jobId, topic: 'job.mcp-bridge.write.ticket', tenant_id: 'acme', principal_id: 'agent:bot', risk_tags: ['prod'], ...extra })
  const check = async (payload: Body): Promise<Body> => {
    const res = await inject({ method: 'POST', url: '/check', payload, headers: bearer(scheduler) })
    t.equal(res.statusCode, 200, `check ${String(payload.job_id)}: 200`)
    return assertDocumented(t, res, 'POST', '/check')
  }
  /** POSTs to /approvals/{job_id}/<action> and asserts the answer is documented, with `status` and `code` when given. */
  const act = async (jobId: string, action: string, token: string, payload: Body, status: number, code?: string): Promise<Body> => {
    const res = await inject({ method: 'POST', url: `/approvals/${jobId}/${action}`, payload, headers: bearer(token) })
    t.equal(res.statusCode, status, `${action} ${jobId}: ${status}`)
    const body = assertDocumented(t, res, 'POST', `/approvals/{job_id}/${action}`)
    if (code !== undefined) t.equal(body.code, code, `${action} ${jobId}: ${code}`)
    return body
  }
  const get = async (url: string, template: string, token: string, status = 200, code?: string): Promise<Body> => {
    const res = await inject({ url, headers: bearer(token) })
    t.equal(res.statusCode, status, `GET ${url}: ${status}`)
    const body = assertDocumented(t, res, 'GET', template)
    if (code !== undefined) t.equal(body.code, code, `GET ${url}: ${code}`)
    return body
  }

  // REQUIRE_APPROVAL with the approval's state; the same job again answers the same approval.
  const first = await check(write('a1'))
  t.match(first, { decision: 'REQUIRE_APPROVAL', policy_decision: 'REQUIRE_APPROVAL', approval: { status: 'PENDING', approvals_required: 1, approvals_received: 0 } })
  const approvalId = (first.approval as Body).approval_id
  t.equal(((await check(write('a1'))).approval as Body).approval_id, approvalId, 'a re-check answers the same pending approval')

  // The queue and one approval, for reviewers and auditors.
  const queue = await get('/approvals?tenant_id=acme&limit=1', '/approvals', alice)
  t.same((queue.approvals as Body[]).map((a) => a.job_id), ['a1'])
  t.equal(queue.next_cursor, null)
  t.match(await get('/approvals/a1?tenant_id=acme', '/approvals/{job_id}', auditor), { approval_id: approvalId, job_hash: first.job_hash, status: 'PENDING', votes: [] })
  await get('/approvals/a1', '/approvals/{job_id}', alice, 404, 'ARBITER_ERR_NOT_FOUND')
  await get('/approvals/a1?tenant_id=globex', '/approvals/{job_id}', aliceAcme, 404, 'ARBITER_ERR_NOT_FOUND')
  for (const bad of ['status=MAYBE', 'include_resolved=yes', 'cursor=0', 'limit=201', 'colour=red']) {
    await get(`/approvals?${bad}`, '/approvals', alice, 400, 'ARBITER_ERR_VALIDATION')
  }

  // Votes that are refused, then one that approves; the next check is an ALLOW on the approval.
  const vote = { tenant_id: 'acme', job_hash: first.job_hash, note: 'checked the ticket' }
  await act('a1', 'approve', alice, { ...vote, job_hash: `sha256:${'0'.repeat(64)}` }, 409, 'ARBITER_ERR_STALE_JOB_HASH')
  await act('a1', 'approve', requester, vote, 403, 'ARBITER_ERR_FORBIDDEN')
  await act('a1', 'approve', agent, vote, 403, 'ARBITER_ERR_FORBIDDEN')
  await act('a1', 'approve', auditor, vote, 403, 'ARBITER_ERR_FORBIDDEN')
  await act('a1', 'deny', alice, { tenant_id: 'acme' }, 400, 'ARBITER_ERR_VALIDATION')
  await act('a1', 'approve', alice, { ...vote, approved: true }, 400, 'ARBITER_ERR_VALIDATION')
  await act('nothing', 'approve', alice, vote, 404, 'ARBITER_ERR_NOT_FOUND')
  t.match(await act('a1', 'approve', alice, vote, 200), { status: 'APPROVED', approvals_received: 1, votes: [{ principal_id: 'alice', vote: 'APPROVE' }] })
  await act('a1', 'approve', bob, vote, 409, 'ARBITER_ERR_APPROVAL_CLOSED')
  t.match(await check(write('a1')), { decision: 'ALLOW', policy_decision: 'REQUIRE_APPROVAL', approval_ref: approvalId, approval: { status: 'CONSUMED' } })

  // Two approvers: a second vote by the same person is refused; one deny ends it, and the job is denied with the note.
  const deploy = { job_id: 'd1', topic: 'job.ci.deploy.api', tenant_id: 'acme', principal_id: 'agent:bot', risk_tags: ['prod'] }
  t.match(await check(deploy), { decision: 'REQUIRE_APPROVAL', approval: { approvals_required: 2 } })
  t.match(await act('d1', 'approve', alice, { tenant_id: 'acme' }, 200), { status: 'PENDING', approvals_received: 1 })
  await act('d1', 'approve', alice, { tenant_id: 'acme' }, 409, 'ARBITER_ERR_ALREADY_VOTED')
  t.match(await act('d1', 'deny', bob, { tenant_id: 'acme', note: 'not during the freeze' }, 200), { status: 'DENIED' })
  t.match(await check(deploy), { decision: 'DENY', reason: 'approval denied: not during the freeze', approval: { status: 'DENIED' } })
  await check(write('r1'))
  t.match(await act('r1', 'reject', alice, { tenant_id: 'acme', note: 'wrong ticket' }, 200), { status: 'DENIED' })

  // The scheduler's cancel answers the approval's state; a closed approval cannot be cancelled.
  await check(write('c1'))
  t.match(await act('c1', 'cancel', scheduler, { tenant_id: 'acme', reason: 'not needed' }, 200), { status: 'CANCELLED' })
  await act('c1', 'cancel', scheduler, { tenant_id: 'acme' }, 409, 'ARBITER_ERR_APPROVAL_CLOSED')
  await act('nothing', 'cancel', scheduler, { tenant_id: 'acme' }, 404, 'ARBITER_ERR_NOT_FOUND')
  await act('c1', 'cancel', scheduler, { tenant_id: 'acme', note: 'x' }, 400, 'ARBITER_ERR_VALIDATION')
  t.match(await check(write('c1')), { decision: 'DENY', reason: 'approval cancelled: not needed' })

  // A vote after the TTL is refused and the expiry recorded; the job is then denied "approval expired".
  await check(write('e1'))
  now += 3600 * 1000
  t.match(await act('e1', 'approve', alice, { tenant_id: 'acme' }, 409, 'ARBITER_ERR_APPROVAL_CLOSED'), { message: 'approval expired' })
  t.match(await check(write('e1')), { decision: 'DENY', reason: 'approval expired', approval: { status: 'EXPIRED' } })
  t.same((await get('/approvals?tenant_id=acme', '/approvals', alice)).approvals, [], 'nothing waits for votes any more')
  const every = await get('/approvals?tenant_id=acme&include_resolved=true&limit=2', '/approvals', auditor)
  t.type(every.next_cursor, 'string', 'every approval, a page at a time')
  await get(`/approvals?tenant_id=acme&include_resolved=true&cursor=${String(every.next_cursor)}`, '/approvals', auditor)

  // Grants: made, used by a check in their session, listed, revoked.
  const grant = { tenant_id: 'acme', session_id: 's-1', match: { topics: ['job.mcp-bridge.write.*'], risk_tags: ['prod'] }, ttl_sec: 600, max_uses: 5, note: 'migration' }
  const grantAnswer = async (payload: Body, token: string, status: number, code?: string): Promise<Body> => {
    const res = await inject({ method: 'POST', url: '/grants', payload, headers: bearer(token) })
    t.equal(res.statusCode, status, `POST /grants: ${status}`)
    const body = assertDocumented(t, res, 'POST', '/grants')
    if (code !== undefined) t.equal(body.code, code)
    return body
  }
  const made = await grantAnswer(grant, alice, 201)
  t.match(made, { tenant_id: 'acme', session_id: 's-1', uses: 0, max_uses: 5, revoked_at: null, created_by: { principal_id: 'alice' } })
  now += 1000 // listed by created_at: the second grant is the younger
  await grantAnswer({ ...grant, session_id: 's-2' }, bob, 201)
  await grantAnswer({ ...grant, ttl_sec: 0 }, alice, 400, 'ARBITER_ERR_VALIDATION')
  await grantAnswer({ ...grant, tenant_id: 'globex' }, aliceAcme, 404, 'ARBITER_ERR_NOT_FOUND')
  await grantAnswer(grant, auditor, 403, 'ARBITER_ERR_FORBIDDEN')
  t.match(await check(write('g1', { session_id: 's-1' })), { decision: 'ALLOW', policy_decision: 'REQUIRE_APPROVAL', grant_ref: made.grant_id })

  const page = await get('/grants?tenant_id=acme&limit=1', '/grants', auditor)
  t.match(page.grants, [{ grant_id: made.grant_id, uses: 1 }])
  t.type(page.next_cursor, 'string', 'a next_cursor')
  t.equal((await get(`/grants?tenant_id=acme&limit=1&cursor=${String(page.next_cursor)}`, '/grants', auditor)).next_cursor, null)
  for (const bad of ['cursor=bm9wZQ', 'cursor=!!', 'limit=0', 'include_inactive=yes', 'colour=red']) {
    await get(`/grants?${bad}`, '/grants', alice, 400, 'ARBITER_ERR_VALIDATION')
  }
  const revoke = async (id: string, status: number, code?: string): Promise<Body> => {
    const res = await inject({ method: 'DELETE', url: `/grants/${id}`, headers: bearer(bob) })
    t.equal(res.statusCode, status, `DELETE /grants/${id}: ${status}`)
    const body = assertDocumented(t, res, 'DELETE', '/grants/{grant_id}')
    if (code !== undefined) t.equal(body.code, code)
    return body
  }
  const revoked = await revoke(String(made.grant_id), 200)
  t.match(revoked, { grant_id: made.grant_id, revoked_at: String, revoked_by: { principal_id: 'bob' } })
  t.same(await revoke(String(made.grant_id), 200), revoked, 'revoking a revoked grant answers it as it is')
  await revoke(NO_GRANT, 404, 'ARBITER_ERR_NOT_FOUND')
  await revoke('nope', 400, 'ARBITER_ERR_VALIDATION')
  t.same((await get('/grants?tenant_id=acme&session_id=s-1', '/grants', alice)).grants, [], 'a revoked grant is not listed as live')
  t.match(await check(write('g2', { session_id: 's-1' })), { decision: 'REQUIRE_APPROVAL' }, 'nor used')
})

t.test('a failed reload is reported in the documented shape', async (t) => {
  const ctx = await testApp(t, { policies: { 'main.yaml': EXAMPLE_POLICY } })
  writeFileSync(path.join(ctx.config.policyPath, 'extra.yaml'), 'version: v1\nrules: [')
  t.match(await ctx.app.policies.reload(), { ok: false })
  const body = assertDocumented(t, await ctx.app.inject({ url: '/policies/current' }), 'GET', '/policies/current')
  t.match(body.last_reload_error, { problems: [/^extra\.yaml:/] })
})

t.test('the key, reload and metrics routes, and the refusals of the access checks, answer as the spec says', async (t) => {
  const ctx = await testApp(t)
  const inject = ctx.app.inject.bind(ctx.app)
  const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })
  const job = { job_id: 'k1', topic: 'job.mcp-bridge.read.ticket', tenant_id: 'acme', principal_id: 'agent:bot' }

  // Keys: created with the token shown once, listed without it, revoked.
  const create = await inject({ method: 'POST', url: '/keys', payload: { principal_id: 'scheduler-acme', roles: ['scheduler'], tenants: ['acme'], agents: ['agent:*'] } })
  t.equal(create.statusCode, 201)
  const created = assertDocumented(t, create, 'POST', '/keys')
  t.match(created, { principal_id: 'scheduler-acme', roles: ['scheduler'], tenants: ['acme'], agents: ['agent:*'], revoked_at: null })
  t.match(created.token, /^arb_[A-Za-z0-9_-]{43}$/, 'a generated token')
  const keyPath = `/keys/${String(created.key_id)}`
  const badKeys: Array<[string, Record<string, unknown>]> = [
    ['an unknown role', { principal_id: 'x', roles: ['owner'], tenants: ['acme'] }],
    ['no tenants', { principal_id: 'x', roles: ['auditor'], tenants: [] }],
    ['* beside another tenant', { principal_id: 'x', roles: ['auditor'], tenants: ['*', 'acme'] }],
    ['an unknown field', { principal_id: 'x', roles: ['auditor'], tenants: ['acme'], expires: 'never' }]
  ]
  for (const [name, payload] of badKeys) {
    const res = await inject({ method: 'POST', url: '/keys', payload })
    t.equal(res.statusCode, 400, `${name}: 400`)
    t.equal(assertDocumented(t, res, 'POST', '/keys').code, 'ARBITER_ERR_VALIDATION', name)
  }
  const acmeAdmin = await ctx.token({ principal_id: 'acme-admin', roles: ['admin'], tenants: ['acme'] })
  const wider = await inject({ method: 'POST', url: '/keys', payload: { principal_id: 'x', roles: ['auditor'], tenants: ['*'] }, headers: bearer(acmeAdmin) })
  t.equal(wider.statusCode, 403, 'no key reaches further than the key creating it')
  t.equal(assertDocumented(t, wider, 'POST', '/keys').code, 'ARBITER_ERR_FORBIDDEN')

  const active = await inject({ url: '/keys' })
  t.equal(active.statusCode, 200)
  const listed = assertDocumented(t, active, 'GET', '/keys').keys as Array<Record<string, unknown>>
  t.ok(listed.some((k) => k.key_id === created.key_id), 'the new key is listed')
  t.notOk(listed.some((k) => 'token' in k), 'never with a token')
  const revoke = await inject({ method: 'DELETE', url: keyPath })
  t.equal(revoke.statusCode, 200)
  t.match(assertDocumented(t, revoke, 'DELETE', '/keys/{key_id}'), { key_id: created.key_id, revoked_at: String, revoked_by: String })
  const stillActive = assertDocumented(t, await inject({ url: '/keys' }), 'GET', '/keys').keys as Array<Record<string, unknown>>
  t.notOk(stillActive.some((k) => k.key_id === created.key_id), 'a revoked key is not listed as active')
  const all = assertDocumented(t, await inject({ url: '/keys?include_revoked=true' }), 'GET', '/keys').keys as Array<Record<string, unknown>>
  t.ok(all.some((k) => k.key_id === created.key_id), 'but is with include_revoked=true')
  for (const [url, status, code] of [['/keys?include_revoked=yes', 400, 'ARBITER_ERR_VALIDATION'], ['/keys?colour=red', 400, 'ARBITER_ERR_VALIDATION']] as const) {
    const res = await inject({ url })
    t.equal(res.statusCode, status, `${url}: ${status}`)
    t.equal(assertDocumented(t, res, 'GET', '/keys').code, code)
  }
  for (const [url, status, code] of [[`/keys/key_${'0'.repeat(16)}`, 404, 'ARBITER_ERR_NOT_FOUND'], ['/keys/nope', 400, 'ARBITER_ERR_VALIDATION']] as const) {
    const res = await inject({ method: 'DELETE', url })
    t.equal(res.statusCode, status, `DELETE ${url}: ${status}`)
    t.equal(assertDocumented(t, res, 'DELETE', '/keys/{key_id}').code, code)
  }

  // 401: no token, or a revoked one.
  for (const [name, headers] of [['no token', { authorization: undefined }], ['a revoked token', bearer(String(created.token))]] as const) {
    const res = await inject({ method: 'POST', url: '/check', payload: job, headers })
    t.equal(res.statusCode, 401, `${name}: 401`)
    t.equal(assertDocumented(t, res, 'POST', '/check').code, 'ARBITER_ERR_UNAUTHORIZED', name)
  }
  const anonymous = await inject({ url: '/metrics', headers: { authorization: undefined } })
  t.equal(anonymous.statusCode, 401)
  t.equal(assertDocumented(t, anonymous, 'GET', '/metrics').code, 'ARBITER_ERR_UNAUTHORIZED')

  // 403 for a role, and for a principal the key may not speak for; 404 for a tenant it does not reach.
  const auditor = await ctx.token({ principal_id: 'auditor', roles: ['auditor'] })
  const wrongRole = await inject({ method: 'POST', url: '/check', payload: job, headers: bearer(auditor) })
  t.equal(wrongRole.statusCode, 403)
  t.equal(assertDocumented(t, wrongRole, 'POST', '/check').code, 'ARBITER_ERR_FORBIDDEN')
  const scheduler = await ctx.token({ principal_id: 'scheduler', roles: ['scheduler'], tenants: ['acme'], agents: ['agent:*'] })
  const reader = await inject({ url: '/keys', headers: bearer(scheduler) })
  t.equal(reader.statusCode, 403)
  t.equal(assertDocumented(t, reader, 'GET', '/keys').code, 'ARBITER_ERR_FORBIDDEN')
  for (const url of ['/check', '/check/simulate']) {
    const scoped: Array<[string, Record<string, unknown>, number, string | undefined]> = [
      ['a job in scope', job, 200, undefined],
      ['a tenant beyond the key', { ...job, tenant_id: 'globex' }, 404, 'ARBITER_ERR_NOT_FOUND'],
      ['a principal beyond the key', { ...job, principal_id: 'robot:x' }, 403, 'ARBITER_ERR_FORBIDDEN'],
      ['no principal, from a key limited to some', { ...job, principal_id: undefined }, 403, 'ARBITER_ERR_FORBIDDEN']
    ]
    for (const [name, payload, status, code] of scoped) {
      const res = await inject({ method: 'POST', url, payload, headers: bearer(scheduler) })
      t.equal(res.statusCode, status, `${url} ${name}: ${status}`)
      const body = assertDocumented(t, res, 'POST', url)
      if (code !== undefined) t.equal(body.code, code, `${url} ${name}: ${code}`)
    }
  }

  // GET /metrics: Prometheus text, for auditors.
  const metrics = await inject({ url: '/metrics', headers: bearer(auditor) })
  t.equal(metrics.statusCode, 200)
  assertDocumented(t, metrics, 'GET', '/metrics')
  t.match(metrics.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  t.match(metrics.body, /^arbiter_decisions_total\{decision="ALLOW",rule_id="allow-low-risk-read"\} 1$/m, 'the decision above is counted')

  // POST /policies/reload: the policy status, or 422 with the previous policy still in force.
  const reload = await inject({ method: 'POST', url: '/policies/reload' })
  t.equal(reload.statusCode, 200)
  t.match(assertDocumented(t, reload, 'POST', '/policies/reload'), { snapshot_id: ctx.app.policies.current.snapshotId, last_reload_error: null })
  writeFileSync(path.join(ctx.config.policyPath, 'broken.yaml'), 'version: v1\nrules: [')
  const broken = await inject({ method: 'POST', url: '/policies/reload' })
  t.equal(broken.statusCode, 422)
  t.match(assertDocumented(t, broken, 'POST', '/policies/reload'), { code: 'ARBITER_ERR_POLICY_INVALID', message: /broken\.yaml:/ })
  const reviewer = await ctx.token({ principal_id: 'reviewer', roles: ['reviewer'] })
  const notAdmin = await inject({ method: 'POST', url: '/policies/reload', headers: bearer(reviewer) })
  t.equal(notAdmin.statusCode, 403)
  t.equal(assertDocumented(t, notAdmin, 'POST', '/policies/reload').code, 'ARBITER_ERR_FORBIDDEN')

  // The last admin key that reaches everything cannot be revoked; one of two can.
  const second = await ctx.token({ principal_id: 'second-admin', roles: ['admin'], tenants: ['*'] })
  const everyKey = assertDocumented(t, await inject({ url: '/keys' }), 'GET', '/keys').keys as Array<Record<string, unknown>>
  const keyOf = (principal: string): string => String(everyKey.find((k) => k.principal_id === principal)?.key_id)
  const first = await inject({ method: 'DELETE', url: `/keys/${keyOf('test-admin')}`, headers: bearer(second) })
  t.equal(first.statusCode, 200, 'one of two root admin keys can be revoked')
  assertDocumented(t, first, 'DELETE', '/keys/{key_id}')
  const last = await inject({ method: 'DELETE', url: `/keys/${keyOf('second-admin')}`, headers: bearer(second) })
  t.equal(last.statusCode, 409, 'the last one cannot')
  t.equal(assertDocumented(t, last, 'DELETE', '/keys/{key_id}').code, 'ARBITER_ERR_LAST_ADMIN')

  // 429: past the failure limit an address's bad tokens are told to wait; a valid one is served.
  const limited = await testApp(t, { env: { AUTH_FAILURE_LIMIT: '1' } })
  const once = await limited.app.inject({ url: '/decisions', headers: bearer(`arb_${'A'.repeat(43)}`) })
  t.equal(once.statusCode, 401)
  assertDocumented(t, once, 'GET', '/decisions')
  for (const [name, token] of [['another bad token', `arb_${'B'.repeat(43)}`], ['no token', undefined]] as Array<[string, string | undefined]>) {
    const res = await limited.app.inject({ url: '/decisions', headers: token === undefined ? { authorization: undefined } : bearer(token) })
    t.equal(res.statusCode, 429, `${name}: 429`)
    t.equal(assertDocumented(t, res, 'GET', '/decisions').code, 'ARBITER_ERR_TOO_MANY_FAILURES', name)
  }
  t.equal((await limited.app.inject({ url: '/decisions', headers: bearer(limited.adminToken) })).statusCode, 200, 'a valid key from the address is served')
})

t.test('the answers of a failing database match the spec', async (t) => {
  const testDb = await testDatabase(t)
  const { db, breakIt } = breakable(testDb.db)
  const ctx = await testApp(t, { testDb, deps: { db } })
  const snapshotId = ctx.app.policies.current.snapshotId
  // Votes and grants are a person's: the test's admin key is a service key.
  const person = await ctx.token({ principal_id: 'pat', roles: ['admin'], kind: 'person' })
  breakIt()

  const res = await ctx.app.inject({ method: 'POST', url: '/check', payload: { job_id: 'r1', topic: 'job.mcp-bridge.read.ticket', trace_id: 'trace-503' } })
  t.equal(res.statusCode, 503)
  const deny = assertDocumented(t, res, 'POST', '/check')
  t.match(deny, { code: 'ARBITER_ERR_RECORD_UNAVAILABLE', decision: 'DENY', trace_id: 'trace-503', policy_snapshot: snapshotId })
  t.match(res.headers['retry-after'], /^\d+$/, 'with Retry-After')

  const ready = await ctx.app.inject({ url: '/ready' })
  t.equal(ready.statusCode, 503)
  t.equal(assertDocumented(t, ready, 'GET', '/ready').code, 'ARBITER_ERR_NOT_READY')

  const lookup = await ctx.app.inject({ url: `/policies/snapshots/${snapshotId}` })
  t.equal(lookup.statusCode, 500)
  t.equal(assertDocumented(t, lookup, 'GET', '/policies/snapshots/{snapshot_id}').code, 'ARBITER_ERR_INTERNAL')

  const sim = await ctx.app.inject({ method: 'POST', url: '/check/simulate', payload: { job_id: 'r1', topic: 'job.mcp-bridge.read.ticket' } })
  t.equal(sim.statusCode, 200, 'simulation does not need the database')
  assertDocumented(t, sim, 'POST', '/check/simulate')

  const event = await ctx.app.inject({ method: 'POST', url: '/jobs/r1/events', payload: { status: 'RUNNING' } })
  t.equal(event.statusCode, 503)
  t.equal(assertDocumented(t, event, 'POST', '/jobs/{job_id}/events').code, 'ARBITER_ERR_RECORD_UNAVAILABLE')
  // A vote, a cancel, a grant or a revocation whose record cannot be committed changes nothing: 503, retry.
  for (const [method, url, template, payload] of [
    ['POST', '/approvals/r1/approve', '/approvals/{job_id}/approve', {}],
    ['POST', '/approvals/r1/deny', '/approvals/{job_id}/deny', { note: 'no' }],
    ['POST', '/approvals/r1/cancel', '/approvals/{job_id}/cancel', {}],
    ['POST', '/grants', '/grants', { session_id: 's', match: { topics: ['job.*'] }, ttl_sec: 60, max_uses: 1, note: 'n' }],
    ['DELETE', `/grants/${NO_GRANT}`, '/grants/{grant_id}', undefined]
  ] as const) {
    const res = await ctx.app.inject({ method, url, payload, headers: { authorization: `Bearer ${person}` } })
    t.equal(res.statusCode, 503, `${method} ${url}: 503`)
    t.equal(assertDocumented(t, res, method, template).code, 'ARBITER_ERR_RECORD_UNAVAILABLE')
    t.equal(res.headers['retry-after'], '1')
  }
  for (const [url, template] of [['/traces/trace-503', '/traces/{trace_id}'], ['/decisions', '/decisions'], ['/audit/keys', '/audit/keys'], ['/audit/checkpoints', '/audit/checkpoints'], ['/approvals', '/approvals'], ['/approvals/r1', '/approvals/{job_id}'], ['/grants', '/grants']]) {
    const res = await ctx.app.inject({ url })
    t.equal(res.statusCode, 500, `${url}: 500`)
    t.equal(assertDocumented(t, res, 'GET', template).code, 'ARBITER_ERR_INTERNAL')
  }

  // With the key store failing too, nothing is served to anyone: 503 on every route that needs a token.
  breakIt(true)
  for (const { method, template } of specOperations()) {
    const url = template.replace('{snapshot_id}', snapshotId).replace('{job_id}', 'r1').replace('{trace_id}', 'trace-503').replace('{key_id}', `key_${'0'.repeat(16)}`).replace('{grant_id}', NO_GRANT).replace('{replay_id}', NO_GRANT)
    const res = await ctx.app.inject({ method: method as 'GET', url, ...(method === 'POST' ? { payload: {} } : {}) })
    if (operation(method, template)?.security?.length === 0) continue
    t.equal(res.statusCode, 503, `${method} ${template}: 503 while keys cannot be checked`)
    t.equal(assertDocumented(t, res, method, template).code, 'ARBITER_ERR_AUTH_UNAVAILABLE')
    t.equal(res.headers['retry-after'], '1')
  }
})

t.test('a request that reaches a draining server gets the documented 503, on every route', async (t) => {
  const ctx = await testApp(t)
  await ctx.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = ctx.app.server.address() as AddressInfo
  const payload = JSON.stringify({ job_id: 'drain', topic: 'job.mcp-bridge.read.ticket' })
  const auth = `Authorization: Bearer ${ctx.adminToken}\r\n`
  const post = (url: string): string => `POST ${url} HTTP/1.1\r\nHost: arbiter\r\n${auth}Content-Type: application/json\r\nContent-Length: ${payload.length}\r\n\r\n`
  const operations = specOperations().map(({ method, template }) => {
    const url = template.replace('{snapshot_id}', ctx.app.policies.current.snapshotId).replace('{job_id}', 'drain').replace('{session_id}', 'drain-session').replace('{trace_id}', 'drain-trace').replace('{key_id}', `key_${'0'.repeat(16)}`).replace('{grant_id}', NO_GRANT).replace('{replay_id}', NO_GRANT).replace('{file}', 'main.js')
    t.notMatch(url, /[{}]/, `${method} ${template}: every path parameter is filled in`)
    return { method, template, late: method === 'POST' ? post(url) + payload : `${method} ${url} HTTP/1.1\r\nHost: arbiter\r\n${auth}\r\n` }
  })

  // On each connection a first request holds it busy (its body is incomplete) while the close
  // starts; the second, pipelined behind it, arrives at a server that is draining.
  const connections: Array<{ socket: net.Socket, chunks: Buffer[], ended: Promise<unknown> }> = []
  for (let i = 0; i < operations.length; i++) {
    const socket = net.connect(port, '127.0.0.1')
    t.teardown(() => { socket.destroy() })
    await once(socket, 'connect')
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => { chunks.push(chunk) })
    const ended = once(socket, 'close')
    const arrived = once(ctx.app.server, 'request') // Fastify's own listener has routed it by then
    socket.write(post('/check') + payload.slice(0, 4))
    await arrived
    connections.push({ socket, chunks, ended })
  }
  const closed = ctx.app.close()
  // Fastify marks itself closing, runs the preClose hooks, then closes the listening socket:
  // from then on it drains.
  while (ctx.app.server.listening) await sleep(5)
  connections.forEach(({ socket }, i) => socket.write(payload.slice(4) + operations[i].late))
  await Promise.all(connections.map(({ ended }) => ended))
  await closed

  for (const [i, { method, template }] of operations.entries()) {
    const answers = readResponses(Buffer.concat(connections[i].chunks))
    t.same(answers.map((a) => a.statusCode), [200, 503], `${method} ${template}: the request in flight is answered; the late one is turned away`)
    const late = answers[1]
    if (late === undefined) continue
    t.equal(late.headers.connection, 'close', `${method} ${template}: the connection is closed`)
    t.equal(late.headers['retry-after'], '1', `${method} ${template}: with Retry-After`)
    const body = assertDocumented(t, late, method, template)
    t.equal(body.code, 'ARBITER_ERR_SHUTTING_DOWN', `${method} ${template}: in the catalogue`)
    if (template === '/check') t.notOk('decision' in body, 'the draining 503 carries no decision: a caller must treat it as DENY by its status')
  }
})

t.test('the spec accepts exactly the check requests the app accepts', async (t) => {
  const ctx = await testApp(t)
  const validate = validatorAt(`/paths/${escape('/check')}/post/requestBody/content/${escape(JSON_TYPE)}/schema`)
  const ok = { job_id: 'j', topic: 'job.x' }
  const cases: Array<[string, unknown, boolean]> = [
    ['the minimal request', ok, true],
    ['every field', {
      ...ok,
      tenant_id: 'acme',
      principal_id: 'agent:bot',
      session_id: 's-1',
      trace_id: 'trace.1:a-b_c',
      risk_tags: ['prod', 'prod'],
      labels: { env: 'prod', 'team/x': '' },
      command: 'ls',
      args: { a: [1, null] },
      evidence: {},
      priority: 1000000,
      budget: { usd: 0.5, tokens: 0 }
    }, true],
    ['an unknown field', { ...ok, approved: true }, false],
    ['no job_id', { topic: 'job.x' }, false],
    ['no topic', { job_id: 'j' }, false],
    ['not an object', ['j'], false],
    ['a numeric job_id', { ...ok, job_id: 1 }, false],
    ['a job_id with a space', { ...ok, job_id: 'a b' }, false],
    ['a job_id of 256 characters', { ...ok, job_id: 'j'.repeat(256) }, true],
    ['a job_id of 257 characters', { ...ok, job_id: 'j'.repeat(257) }, false],
    ['an empty topic segment', { ...ok, topic: 'a..b' }, false],
    ['a trailing dot in topic', { ...ok, topic: 'a.' }, false],
    ['a tenant with a space', { ...ok, tenant_id: 'a b' }, false],
    ['a tenant of 129 characters', { ...ok, tenant_id: 't'.repeat(129) }, false],
    ['a trace id with a slash', { ...ok, trace_id: 'a/b' }, false],
    ['risk tags as a string', { ...ok, risk_tags: 'prod' }, false],
    ['64 risk tags', { ...ok, risk_tags: Array.from({ length: 64 }, (_, i) => `t${i}`) }, true],
    ['65 risk tags', { ...ok, risk_tags: Array.from({ length: 65 }, (_, i) => `t${i}`) }, false],
    ['an empty risk tag', { ...ok, risk_tags: [''] }, false],
    ['a numeric label', { ...ok, labels: { env: 1 } }, false],
    ['a label key with a space', { ...ok, labels: { 'a b': 'x' } }, false],
    ['a label value of 257 characters', { ...ok, labels: { env: 'v'.repeat(257) } }, false],
    ['65 labels', { ...ok, labels: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])) }, false],
    ['an empty command', { ...ok, command: '' }, false],
    ['args as an array', { ...ok, args: [] }, false],
    ['a fractional priority', { ...ok, priority: 1.5 }, false],
    ['a negative priority', { ...ok, priority: -1 }, false],
    ['a priority over the maximum', { ...ok, priority: 1000001 }, false],
    ['a negative budget', { ...ok, budget: { usd: -1 } }, false],
    ['a budget as text', { ...ok, budget: { usd: '1' } }, false],
    ['33 budget entries', { ...ok, budget: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`b${i}`, 1])) }, false]
  ]
  for (const [name, body, valid] of cases) {
    t.equal(validate(body), valid, `the spec ${valid ? 'accepts' : 'rejects'} ${name}`)
    const res = await ctx.app.inject({ method: 'POST', url: '/check/simulate', payload: JSON.stringify(body), headers: { 'content-type': JSON_TYPE } })
    t.equal(res.statusCode, valid ? 200 : 400, `the app ${valid ? 'accepts' : 'rejects'} ${name}`)
  }
})

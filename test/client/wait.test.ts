/**
 * `waitForApproval`: against a real Arbiter on a real port, where a reviewer decides, and against
 * raw HTTP servers that fail, drain, answer early or answer nonsense.
 */
import { once } from 'node:events'
import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { ArbiterClient, ArbiterClientError, MAX_WAIT_SEC, type Approval, type CheckJob } from '../../src/client/index.js'
import { approvalSchema } from '../../src/schemas/approvals.js'
import { approvalApp, prodWrite } from '../fixtures/approvals.js'

const LATER = new Date(Date.now() + 3_600_000).toISOString()

/** An approval in the shape of Arbiter's 200, with `status`. */
function approvalBody (status: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { approval_id: '00000000-0000-4000-8000-000000000000', status, expires_at: LATER, approvals_required: 1, approvals_received: 0, approved_at: null, dispatch_by: null, job_id: 'job-1', ...extra }
}

/** A raw HTTP server answering each request in turn with `handlers` (the last one from then on); records the URLs asked. */
async function rawServer (t: Test, handlers: http.RequestListener[]): Promise<{ url: string, asked: Array<{ url: string, method: string, at: number, auth: string | undefined }> }> {
  const asked: Array<{ url: string, method: string, at: number, auth: string | undefined }> = []
  const server = http.createServer((req, res) => {
    asked.push({ url: req.url ?? '', method: req.method ?? '', at: performance.now(), auth: req.headers.authorization })
    handlers[Math.min(asked.length, handlers.length) - 1](req, res)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(async () => {
    server.closeAllConnections()
    server.close()
    await once(server, 'close')
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, asked }
}

const send = (status: number, body: unknown): http.RequestListener => (_req, res) => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(typeof body === 'string' ? body : JSON.stringify(body))
}
const UNAVAILABLE = send(503, { statusCode: 503, code: 'ARBITER_ERR_SHUTTING_DOWN', error: 'Service Unavailable', message: 'shutting down' })

t.test('the client\'s Approval has every field of the Approval schema', async (t) => {
  const fields = [
    'approval_id', 'status', 'expires_at', 'approvals_required', 'approvals_received', 'approved_at', 'dispatch_by', 'queued_behind',
    'tenant_id', 'job_id', 'job_hash', 'job', 'job_canonical', 'evidence', 'topic', 'trace_id', 'rule_id', 'reason', 'constraints',
    'policy_snapshot', 'requested_by', 'approver_roles', 'dispatch_window_sec', 'session_id', 'single_flight', 'created_at', 'resolved_at', 'resolution', 'votes'
  ] as const satisfies ReadonlyArray<keyof Approval>
  // Does not compile if Approval has a field the list lacks.
  const complete: Exclude<keyof Approval, typeof fields[number]> extends never ? true : never = true
  t.ok(complete)
  t.same([...fields].sort(), Object.keys(approvalSchema.properties).sort())
  t.equal(MAX_WAIT_SEC, 60)
})

t.test('against Arbiter: a reviewer approves and the waiting scheduler has it within a second; then the check allows', async (t) => {
  // Arbiter's clock is this machine's: the client reads expires_at by its own clock.
  const ctx = await approvalApp(t, { clockAt: { ms: Date.now() } })
  await ctx.app.listen({ port: 0, host: '127.0.0.1' })
  const baseUrl = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`
  const client = new ArbiterClient({ baseUrl, token: ctx.tokens.scheduler })
  const job = { ...prodWrite('cw1'), tenant_id: 'acme' } as unknown as CheckJob
  const asked = await client.check(job)
  t.equal(asked.decision, 'REQUIRE_APPROVAL')

  const waiting = client.waitForApproval(job).then((a) => ({ a, at: performance.now() }))
  await sleep(400)
  t.equal((await ctx.vote('cw1', 'approve', ctx.tokens.alice, { tenant_id: 'acme' })).statusCode, 200)
  const voted = performance.now()
  const { a, at } = await waiting
  t.match(a, { job_id: 'cw1', tenant_id: 'acme', status: 'APPROVED', votes: [{ principal_id: 'alice', vote: 'APPROVE' }] })
  t.ok(at - voted < 1000, `returned ${(at - voted).toFixed(0)} ms after the vote`)
  t.match(await client.check(job), { decision: 'ALLOW_WITH_CONSTRAINTS', approval_ref: a.approval_id })
  t.equal((await client.waitForApproval(job)).status, 'CONSUMED', 'a decided approval comes back at once')

  await client.check(prodWrite('cw2') as unknown as CheckJob)
  const started = performance.now()
  const pending = await client.waitForApproval({ job_id: 'cw2' }, { timeoutMs: 1200 })
  const took = performance.now() - started
  t.equal(pending.status, 'PENDING', 'at timeoutMs, the approval as last read')
  t.ok(took >= 1190 && took < 2000, `after timeoutMs (${took.toFixed(0)} ms)`)

  await t.rejects(client.waitForApproval({ job_id: 'nope' }), { name: 'ArbiterClientError', code: 'ARBITER_ERR_NOT_FOUND', statusCode: 404 })
  const otherAgent = await ctx.token({ principal_id: 'sched-9', roles: ['scheduler'], tenants: ['*'], agents: ['agent:other'] })
  const scoped = new ArbiterClient({ baseUrl, token: otherAgent })
  await t.rejects(scoped.waitForApproval({ job_id: 'cw2' }), { code: 'ARBITER_ERR_NOT_FOUND', statusCode: 404 }, 'an approval for an agent the key may not speak for is not there')

  const controller = new AbortController()
  const aborting = client.waitForApproval({ job_id: 'cw2' }, { signal: controller.signal })
  await sleep(200)
  const abortedAt = performance.now()
  controller.abort()
  await t.rejects(aborting, { code: 'ARBITER_CLIENT_ERR_ABORTED' })
  t.ok(performance.now() - abortedAt < 500, 'an abort ends the wait at once')
})

t.test('503s and a broken connection are asked again after a short backoff; each ask waits up to a minute', async (t) => {
  const { url, asked } = await rawServer(t, [UNAVAILABLE, UNAVAILABLE, (req) => { req.socket.destroy() }, send(200, approvalBody('APPROVED'))])
  const client = new ArbiterClient({ baseUrl: `${url}/arbiter`, token: 'tok' })
  const started = performance.now()
  const a = await client.waitForApproval({ job_id: 'job 1', tenant_id: 'acme' })
  t.equal(a.status, 'APPROVED')
  t.equal(asked.length, 4)
  t.ok(asked.every((r) => r.method === 'GET' && r.auth === 'Bearer tok' && r.url === '/arbiter/approvals/job%201?tenant_id=acme&wait_sec=60'), 'GET, the token, a path prefix kept, wait_sec=60')
  const gaps = asked.slice(1).map((r, i) => r.at - asked[i].at)
  t.ok(gaps[0] >= 240 && gaps[1] >= 490 && gaps[2] >= 990, `backing off: ${gaps.map((g) => g.toFixed(0)).join(', ')} ms`)
  t.ok(performance.now() - started < 3000)

  const busy = await rawServer(t, [send(429, { statusCode: 429, code: 'ARBITER_ERR_BUSY', error: 'Too Many Requests', message: 'busy' }), send(200, approvalBody('DENIED'))])
  t.equal((await new ArbiterClient({ baseUrl: busy.url, token: 'tok' }).waitForApproval({ job_id: 'j' })).status, 'DENIED', 'a busy instance is asked again too')
})

t.test('an early answer with nothing new is not asked again at once; a TTL passed by this clock ends the wait', async (t) => {
  const early = await rawServer(t, [send(200, approvalBody('PENDING'))])
  const client = new ArbiterClient({ baseUrl: early.url, token: 'tok' })
  const a = await client.waitForApproval({ job_id: 'j' }, { timeoutMs: 2500 })
  t.equal(a.status, 'PENDING')
  t.ok(early.asked.length >= 2 && early.asked.length <= 4, `asked ${early.asked.length} times in 2.5 s, not in a tight loop`)
  t.same(early.asked.slice(0, 2).map((r) => r.url), ['/approvals/j?wait_sec=2', '/approvals/j?wait_sec=1'], 'never longer than what is left')

  const ranOut = await rawServer(t, [send(200, approvalBody('PENDING', { expires_at: new Date(Date.now() - 1000).toISOString() }))])
  t.equal((await new ArbiterClient({ baseUrl: ranOut.url, token: 'tok' }).waitForApproval({ job_id: 'j' })).status, 'PENDING')
  t.equal(ranOut.asked.length, 1, 'past its TTL it will not be approved: returned at once')
})

t.test('what cannot pass by asking again ends the wait with an ArbiterClientError', async (t) => {
  const nonsense = await rawServer(t, [send(200, { hello: 'world' })])
  await t.rejects(new ArbiterClient({ baseUrl: nonsense.url, token: 'tok' }).waitForApproval({ job_id: 'j' }), { code: 'ARBITER_CLIENT_ERR_BAD_RESPONSE', statusCode: 200 })
  const refused = await rawServer(t, [send(403, { statusCode: 403, code: 'ARBITER_ERR_FORBIDDEN', error: 'Forbidden', message: 'no' })])
  const err = await new ArbiterClient({ baseUrl: refused.url, token: 'tok' }).waitForApproval({ job_id: 'j' }).catch((e: unknown) => e)
  t.ok(err instanceof ArbiterClientError)
  t.match(err, { code: 'ARBITER_ERR_FORBIDDEN', statusCode: 403, message: 'arbiter answered 403: no' })

  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  server.close()
  await once(server, 'close')
  const started = performance.now()
  await t.rejects(new ArbiterClient({ baseUrl: `http://127.0.0.1:${port}`, token: 'tok' }).waitForApproval({ job_id: 'j' }, { timeoutMs: 600 }), { code: 'ARBITER_CLIENT_ERR_UNREACHABLE' }, 'never reached within timeoutMs: the last failure')
  t.ok(performance.now() - started < 1500)
})

t.test('bad arguments are programmer errors and throw', async (t) => {
  const client = new ArbiterClient({ baseUrl: 'http://127.0.0.1:1', token: 'tok' })
  for (const [job, options] of [[null, {}], [{}, {}], [{ job_id: '' }, {}], [{ job_id: 'j', tenant_id: 5 }, {}], [{ job_id: 'j' }, { timeoutMs: -1 }], [{ job_id: 'j' }, { timeoutMs: Number.NaN }], [{ job_id: 'j' }, { signal: 'stop' }], [{ job_id: 'j' }, 'x']]) {
    await t.rejects(client.waitForApproval(job as never, options as never), TypeError, JSON.stringify([job, options]))
  }
})

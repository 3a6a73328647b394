import { createHash, createHmac } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { testApp, type TestApp, verifyLog } from '../helpers.js'

const POLICY = `version: v1
output_rules:
  max_output_bytes: 4096
  findings: { email: allow, jwt: quarantine }
rules:
  - id: allow-all
    match: {}
    decision: allow
`
const PREFIX_POLICY = `version: v1
output_rules: { max_output_bytes: 64, on_oversize: scan_prefix }
rules:
  - { id: allow-all, match: {}, decision: allow }
`

// Built from pieces, so no scanner flags this file itself.
const AWS_KEY = 'AKIA' + 'IOSFODNN7EXAMPLE'
const GITHUB = 'ghp_' + 'a1B2c3D4e5'.repeat(4)

async function outputApp (t: Parameters<typeof testApp>[0], policy = POLICY): Promise<TestApp & { scan: (body: Record<string, unknown>) => Promise<{ status: number, body: Record<string, any> }> }> {
  const app = await testApp(t, { policies: { 'p.yaml': policy } })
  for (const id of ['job-1', 'job-2']) {
    const res = await app.app.inject({ method: 'POST', url: '/check', payload: { job_id: id, topic: 'job.agent.exec.shell', trace_id: `trace-${id}` } })
    t.equal(res.statusCode, 200)
  }
  const scan = async (body: Record<string, unknown>): Promise<{ status: number, body: Record<string, any> }> => {
    const res = await app.app.inject({ method: 'POST', url: '/check/output', payload: body })
    return { status: res.statusCode, body: res.json() }
  }
  return { ...app, scan }
}

t.test('clean output is allowed and the verdict is recorded under the job\'s trace', async (t) => {
  const app = await outputApp(t)
  const res = await app.scan({ job_id: 'job-1', output: 'build ok\n3 tests passed\nmail ops@example.com', content_type: 'text/plain' })
  t.equal(res.status, 200)
  t.equal(res.body.verdict, 'ALLOW')
  t.equal(res.body.trace_id, 'trace-job-1')
  t.same(res.body.findings.map((f: { type: string }) => f.type), ['email'], 'found, and allowed by the policy')
  t.equal(res.body.output, undefined, 'an allowed output is not sent back')
  const trace = (await app.app.inject({ method: 'GET', url: '/traces/trace-job-1' })).json()
  t.same(trace.entries.map((e: { type: string }) => e.type), ['decision', 'output.verdict'])
  t.equal(trace.entries[1].verdict, 'ALLOW')
  t.equal(await verifyLog(app.db, 'default', new Map([[app.deps.key.id, app.deps.key.secret]])), 3)
})

t.test('a secret is redacted or quarantined as the policy says, and never stored', async (t) => {
  const app = await outputApp(t)
  const output = `deploying\npassword=hunter2-very-secret\naws key ${AWS_KEY} done`
  const res = await app.scan({ job_id: 'job-1', trace_id: 'trace-job-1', output })
  t.equal(res.body.verdict, 'QUARANTINE', 'an AWS key quarantines by default')
  t.equal(res.body.output, undefined)
  t.same(res.body.findings.map((f: { type: string, line: number }) => [f.type, f.line]), [['password_assignment', 2], ['aws_access_key', 3]])

  const redact = await app.scan({ job_id: 'job-2', output: 'login ok\npassword=hunter2-very-secret\n' })
  t.equal(redact.body.verdict, 'REDACT')
  t.equal(redact.body.output, 'login ok\npassword=[REDACTED:password_assignment]\n')

  const { rows } = await app.db.query<{ record: string }>("select record from audit_log where record_type = 'output.verdict' order by seq")
  t.equal(rows.length, 2)
  for (const r of rows) {
    t.notMatch(r.record, /hunter2/, 'the record holds no secret')
    t.notMatch(r.record, new RegExp(AWS_KEY))
  }
  const recorded = JSON.parse(rows[0].record).body
  t.equal(recorded.verdict, 'QUARANTINE')
  const expected = createHmac('sha256', app.deps.key.secret).update(output).digest('hex')
  t.equal(recorded.output_hmac, `hmac-sha256:${app.deps.key.id}:${expected}`, 'keyed: a reader of the log cannot guess a short secret from it')
  t.notMatch(rows[0].record, new RegExp(createHash('sha256').update(output).digest('hex')), 'and no plain hash of the output')
  t.equal(recorded.output_bytes, Buffer.byteLength(output))
})

t.test('the policy sets which finding leads to which verdict', async (t) => {
  const app = await outputApp(t)
  const jwt = ['eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9', 'eyJzdWIiOiIxMjM0NTY3ODkwIn0', 'dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U'].join('.')
  t.equal((await app.scan({ job_id: 'job-1', output: `token ${jwt}` })).body.verdict, 'QUARANTINE', 'jwt: quarantine in this policy (redact by default)')
  t.equal((await app.scan({ job_id: 'job-1', output: `token ${GITHUB}` })).body.verdict, 'QUARANTINE')
})

t.test('output past max_output_bytes: quarantined unscanned, or its prefix scanned, as configured', async (t) => {
  const app = await outputApp(t)
  const big = await app.scan({ job_id: 'job-1', output: 'x'.repeat(5000) })
  t.equal(big.body.verdict, 'QUARANTINE')
  t.equal(big.body.truncated, true)
  t.equal(big.body.scanned_bytes, 0)
  t.match(big.body.reason, /over max_output_bytes \(4096\)/)

  const prefixApp = await outputApp(t, PREFIX_POLICY)
  const tail = `${'y'.repeat(70)} password=late-secret-here`
  const pass = await prefixApp.scan({ job_id: 'job-1', output: tail })
  t.equal(pass.body.verdict, 'ALLOW', 'the secret is past the scanned prefix')
  t.equal(pass.body.truncated, true)
  t.equal(pass.body.scanned_bytes, 64)
  t.match(pass.body.reason, /only the first 64 bytes were scanned/)
  const early = await prefixApp.scan({ job_id: 'job-2', output: `password=early-one ${'z'.repeat(80)}` })
  t.equal(early.body.verdict, 'REDACT')
  t.equal(early.body.output, `password=[REDACTED:password_assignment] ${'z'.repeat(80)}`, 'the unscanned rest passes as it is')
})

t.test('bad requests get 4xx in the one error shape', async (t) => {
  const app = await outputApp(t)
  const unknown = await app.scan({ job_id: 'nope', output: 'x' })
  t.equal(unknown.status, 404)
  t.equal(unknown.body.code, 'ARBITER_ERR_NOT_FOUND')
  const wrongTrace = await app.scan({ job_id: 'job-1', trace_id: 'trace-job-2', output: 'x' })
  t.equal(wrongTrace.status, 409)
  t.equal(wrongTrace.body.code, 'ARBITER_ERR_TRACE_MISMATCH')
  const missing = await app.scan({ job_id: 'job-1' })
  t.equal(missing.status, 400)
  t.equal(missing.body.code, 'ARBITER_ERR_VALIDATION')
  const foreign = await app.app.inject({ method: 'POST', url: '/check/output', payload: { job_id: 'job-1', output: 'x' }, headers: { authorization: `Bearer ${await app.token({ principal_id: 'r', roles: ['reviewer'] })}` } })
  t.equal(foreign.statusCode, 403, 'a reviewer is not a scheduler')
  const { rows } = await app.db.query<{ n: number }>("select count(*)::int as n from audit_log where record_type = 'output.verdict'")
  t.equal(rows[0].n, 0, 'nothing recorded for a refused request')
})

// YAML single quotes keep backslashes as they are: these are RE2 patterns as a policy author writes them.
const DETECTOR_POLICY = `version: v1
output_rules:
  findings: { email: allow }
  detectors:
    - { id: ticket_ref, pattern: 'TICKET-[0-9]{6}', verdict: redact }
    - { id: internal_host, pattern: '(?i)\\b[a-z0-9-]+\\.corp\\.example\\b', verdict: quarantine }
    - { id: nested_runs, pattern: '(a+)+$', verdict: redact }
rules:
  - { id: allow-all, match: {}, decision: allow }
`

t.test('policy detectors: findings of type = the detector id, with the detector\'s verdict', async (t) => {
  const app = await outputApp(t, DETECTOR_POLICY)
  const redact = await app.scan({ job_id: 'job-1', output: 'fixed TICKET-123456\nmail ops@example.com' })
  t.equal(redact.status, 200)
  t.equal(redact.body.verdict, 'REDACT')
  t.equal(redact.body.reason, 'redact because of: ticket_ref')
  t.same(redact.body.findings.map((f: { type: string, line: number, column: number }) => [f.type, f.line, f.column]), [['ticket_ref', 1, 7], ['email', 2, 6]])
  t.equal(redact.body.output, 'fixed [REDACTED:ticket_ref]\nmail [REDACTED:email]', 'a redacted output masks every finding, allowed ones too')

  const quarantine = await app.scan({ job_id: 'job-2', output: `connected to DB01.Corp.Example as ${AWS_KEY}, see TICKET-654321` })
  t.equal(quarantine.body.verdict, 'QUARANTINE')
  t.equal(quarantine.body.reason, 'quarantine because of: aws_access_key, internal_host')
  t.same(quarantine.body.findings.map((f: { type: string }) => f.type), ['internal_host', 'aws_access_key', 'ticket_ref'])
  const { rows } = await app.db.query<{ record: string }>("select record from audit_log where record_type = 'output.verdict' order by seq")
  t.same(JSON.parse(rows[1].record).body.findings.map((f: { type: string }) => f.type), ['internal_host', 'aws_access_key', 'ticket_ref'], 'recorded as answered')
})

t.test('a catastrophic-backtracking pattern runs in linear time through the route', async (t) => {
  const app = await outputApp(t, DETECTOR_POLICY)
  // V8's backtracking engine takes about 2^n steps for (a+)+$ on n a's and a '!': seconds at 24,
  // minutes at 30; at 30,000 it would never return. RE2 reads the text once.
  const output = 'a'.repeat(30000) + '!'
  t.equal(/(a+)+$/.test('a'.repeat(16) + '!'), false, 'the same pattern in V8, on 16 a\'s only')
  const started = performance.now()
  const res = await app.scan({ job_id: 'job-1', output })
  t.comment(`(a+)+$ on 30,000 a's and '!' through POST /check/output: ${(performance.now() - started).toFixed(1)} ms`)
  t.equal(res.status, 200)
  t.equal(res.body.verdict, 'ALLOW')
  t.same(res.body.findings, [])
  const end = await app.scan({ job_id: 'job-2', output: 'b ' + 'a'.repeat(500) })
  t.same(end.body.findings.map((f: { type: string, start: number, end: number }) => [f.type, f.start, f.end]), [['nested_runs', 2, 502]],
    'and it still matches where it should')
})

t.test('a detector pattern RE2 cannot compile is a policy error at its file and line', async (t) => {
  const app = await outputApp(t, DETECTOR_POLICY)
  const before = app.app.policies.current.snapshotId
  writeFileSync(path.join(app.config.policyPath, 'p.yaml'), DETECTOR_POLICY.replace("'TICKET-[0-9]{6}'", "'(TICKET)-\\1'"))
  const res = await app.app.inject({ method: 'POST', url: '/policies/reload' })
  t.equal(res.statusCode, 422)
  t.equal(res.json().code, 'ARBITER_ERR_POLICY_INVALID')
  t.match(JSON.stringify(res.json()), /p\.yaml:5: output_rules\.detectors\[0\] pattern is not one RE2 accepts/)
  t.equal(app.app.policies.current.snapshotId, before, 'the previous policy stays in force')
})

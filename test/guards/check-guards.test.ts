import t from 'tap'
import { testApp } from '../helpers.js'

const POLICY = `version: v1
derive:
  - id: payments-writes-are-prod
    match: { topics: ["job.*.write.*"], tenants: [payments] }
    add: [prod]
rules:
  - id: allow-shell
    match: { topics: ["job.agent.exec.shell"] }
    decision: allow
  - id: allow-writes
    match: { topics: ["job.*.write.*"], risk_tags: [] }
    decision: allow
  - id: prod-writes-need-review
    match: { topics: ["job.*.write.*"], risk_tags: [prod] }
    decision: require_approval
  - id: migrations-need-evidence
    match: { topics: ["job.db.migrate.*"] }
    decision: allow
    require_evidence: [blast_radius, validation]
`

async function recordOf (app: Awaited<ReturnType<typeof testApp>>, traceId: string): Promise<Record<string, any>> {
  const { rows } = await app.db.query<{ record: string }>("select record from audit_log where trace_id = $1 and record_type = 'decision'", [traceId])
  return JSON.parse(rows[0].record).body
}

t.test('the shell guard denies over HTTP, and the record says why', async (t) => {
  const app = await testApp(t, { policies: { 'p.yaml': POLICY } })
  const res = await app.app.inject({ method: 'POST', url: '/check', payload: { job_id: 's1', topic: 'job.agent.exec.shell', command: 'cd /tmp && sudo rm -rf "$HOME"', trace_id: 'tr-s1' } })
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.equal(body.decision, 'DENY')
  t.equal(body.rule_id, 'arbiter:recursive-force-delete')
  t.equal(body.reason, 'recursive forced delete of protected path \'"$HOME"\' in \'rm -rf "$HOME"\'')
  t.same(body.command, {
    parsed: true,
    classes: ['destructive', 'privileged', 'read_only'],
    commands: [{ text: 'cd /tmp', classes: ['read_only'] }, { text: 'rm -rf "$HOME"', classes: ['destructive', 'privileged'] }],
    decided_by: { command: 1, class: 'destructive' }
  }, 'cd is read-only; the delete decided')
  const record = await recordOf(app, 'tr-s1')
  t.equal(record.rule_id, 'arbiter:recursive-force-delete')
  t.same(record.command, body.command)
  t.equal(record.job.command, 'cd /tmp && sudo rm -rf "$HOME"', 'the command as sent is in the signed job')

  const ok = (await app.app.inject({ method: 'POST', url: '/check', payload: { job_id: 's2', topic: 'job.agent.exec.shell', command: 'ls -la' } })).json()
  t.same([ok.decision, ok.command], ['ALLOW', { parsed: true, classes: ['read_only'], commands: [{ text: 'ls -la', classes: ['read_only'] }] }])
  const broken = (await app.app.inject({ method: 'POST', url: '/check', payload: { job_id: 's3', topic: 'job.agent.exec.shell', command: 'ls "' } })).json()
  t.same([broken.decision, broken.rule_id], ['DENY', 'arbiter:unparseable-command'])
})

t.test('derived tags are answered and recorded apart from the declared ones', async (t) => {
  const app = await testApp(t, { policies: { 'p.yaml': POLICY } })
  const res = (await app.app.inject({ method: 'POST', url: '/check', payload: { job_id: 'w1', topic: 'job.ledger.write.entry', tenant_id: 'payments', risk_tags: [], trace_id: 'tr-w1' } })).json()
  t.equal(res.decision, 'REQUIRE_APPROVAL', 'declaring no tags does not remove prod')
  t.same(res.derived_risk_tags, ['prod'])
  const record = await recordOf(app, 'tr-w1')
  t.same(record.job.risk_tags, [], 'declared')
  t.same(record.derived_risk_tags, ['prod'], 'derived')
  const elsewhere = (await app.app.inject({ method: 'POST', url: '/check', payload: { job_id: 'w2', topic: 'job.ledger.write.entry', tenant_id: 'acme' } })).json()
  t.equal(elsewhere.decision, 'ALLOW')
  t.equal(elsewhere.derived_risk_tags, undefined)
})

t.test('missing evidence asks for approval, says what is missing, and is recorded', async (t) => {
  const app = await testApp(t, { policies: { 'p.yaml': POLICY } })
  const res = (await app.app.inject({ method: 'POST', url: '/check', payload: { job_id: 'm1', topic: 'job.db.migrate.users', evidence: { blast_radius: 'users' }, trace_id: 'tr-m1' } })).json()
  t.equal(res.decision, 'REQUIRE_APPROVAL')
  t.same(res.missing_evidence, ['validation'])
  t.match(res.reason, /missing evidence: validation$/)
  t.equal(res.approval.status, 'PENDING', 'an approval request was opened for exactly this job')
  t.same((await recordOf(app, 'tr-m1')).missing_evidence, ['validation'])
  const full = (await app.app.inject({ method: 'POST', url: '/check', payload: { job_id: 'm2', topic: 'job.db.migrate.users', evidence: { blast_radius: 'users', validation: 'dry run ok' } } })).json()
  t.equal(full.decision, 'ALLOW')
  t.equal(full.missing_evidence, undefined)
})

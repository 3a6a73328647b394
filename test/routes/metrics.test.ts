/**
 * GET /metrics: the series operators alert on, in Prometheus' text format, for auditors and
 * admins, or for anyone on the separate metrics listener.
 */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { buildMetricsApp } from '../../src/app.js'
import { testApp } from '../helpers.js'

/** The value of one sample line, e.g. `arbiter_decisions_total{decision="ALLOW",rule_id="r"}`. */
function sample (text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

t.test('the series: decisions, /check latency, record groups, reload and auth failures', async (t) => {
  const ctx = await testApp(t)
  const checks = [
    { job_id: 'r1', topic: 'job.mcp-bridge.read.ticket' },
    { job_id: 'r2', topic: 'job.mcp-bridge.read.ticket' },
    { job_id: 'w1', topic: 'job.mcp-bridge.write.ticket', risk_tags: ['prod'] },
    { job_id: 'u1', topic: 'job.unknown.thing' }
  ]
  for (const payload of checks) t.equal((await ctx.app.inject({ method: 'POST', url: '/check', payload })).statusCode, 200)
  await ctx.app.inject({ url: '/decisions', headers: { authorization: undefined } })
  await ctx.app.inject({ url: '/decisions', headers: { authorization: `Bearer arb_${'x'.repeat(43)}` } })
  const auditor = await ctx.token({ roles: ['auditor'], tenants: ['*'] })
  await ctx.app.inject({ method: 'POST', url: '/check', payload: checks[0], headers: { authorization: `Bearer ${auditor}` } })
  writeFileSync(path.join(ctx.config.policyPath, 'broken.yaml'), 'version: v1\nrules: [')
  await ctx.app.policies.reload()

  const res = await ctx.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${auditor}` } })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  const text = res.body
  t.equal(sample(text, 'arbiter_decisions_total{decision="ALLOW",rule_id="allow-low-risk-read"}'), 2)
  t.equal(sample(text, 'arbiter_decisions_total{decision="REQUIRE_APPROVAL",rule_id="require-approval-prod-write"}'), 1)
  t.equal(sample(text, 'arbiter_decisions_total{decision="DENY",rule_id="none"}'), 1, 'a default decision counts under rule_id="none"')
  t.equal(sample(text, 'arbiter_check_duration_seconds_count{status="200"}'), 4)
  t.equal(sample(text, 'arbiter_check_duration_seconds_bucket{le="+Inf",status="200"}'), 4)
  t.equal(sample(text, 'arbiter_record_group_size_sum{outcome="committed"}'), 4, 'every record in some group')
  t.ok((sample(text, 'arbiter_record_group_duration_seconds_count{outcome="committed"}') ?? 0) >= 1)
  t.equal(sample(text, 'arbiter_auth_failures_total{reason="missing"}'), 1)
  t.equal(sample(text, 'arbiter_auth_failures_total{reason="invalid"}'), 1)
  t.equal(sample(text, 'arbiter_auth_failures_total{reason="forbidden"}'), 1)
  t.equal(sample(text, 'arbiter_policy_reload_failures_total'), 1)
  t.equal(sample(text, 'arbiter_record_queue_depth'), 0)
  for (const series of ['arbiter_process_resident_memory_bytes', 'arbiter_nodejs_heap_used_bytes', 'arbiter_process_cpu_seconds_total', 'arbiter_process_start_time_seconds', 'arbiter_nodejs_eventloop_delay_p99_seconds', 'arbiter_nodejs_eventloop_delay_max_seconds']) {
    t.ok((sample(text, series) ?? -1) >= 0, `${series}: the process itself`)
  }
  t.notMatch(text, /gc_duration/, 'no GC observer: nothing in the metrics costs a request anything')
  t.match(text, /^# HELP arbiter_decisions_total /m)
})

t.test('the metrics listener serves only /metrics, without a token', async (t) => {
  const ctx = await testApp(t)
  const metricsApp = buildMetricsApp(ctx.app.metrics, ctx.deps.logger)
  t.teardown(async () => await metricsApp.close())
  const res = await metricsApp.inject({ url: '/metrics' })
  t.equal(res.statusCode, 200)
  t.match(res.body, /arbiter_decisions_total/)
  const other = await metricsApp.inject({ url: '/decisions' })
  t.match({ status: other.statusCode, code: other.json().code }, { status: 404, code: 'ARBITER_ERR_NOT_FOUND' })
})

t.test('the writer\'s counts, the policy in force, checkpoint lag and the pool, read at scrape time', async (t) => {
  const at = { ms: Date.UTC(2026, 0, 5, 9) }
  const ctx = await testApp(t, { deps: { clock: { now: () => new Date(at.ms) } } })
  const scrape = async (): Promise<string> => (await ctx.app.inject({ url: '/metrics' })).body
  t.equal((await ctx.app.inject({ method: 'POST', url: '/check', payload: { job_id: 'r1', topic: 'job.mcp-bridge.read.ticket', tenant_id: 'acme' } })).statusCode, 200)

  let text = await scrape()
  for (const series of ['arbiter_record_in_doubt_total', 'arbiter_record_late_commits_total', 'arbiter_record_requeued_total', 'arbiter_record_recovered_commits_total']) {
    t.equal(sample(text, series), 0, `${series}: none in a healthy run`)
  }
  const snapshot = (await ctx.app.inject({ url: '/policies/current' })).json().snapshot_id as string
  t.equal(sample(text, `arbiter_policy_info{snapshot="${snapshot}"}`), 1)
  t.equal(sample(text, 'arbiter_checkpoint_uncovered_records{tenant="acme"}'), 1, 'the record is not checkpointed yet')
  t.notMatch(text, /^arbiter_checkpoint_age_seconds\{/m, 'no age for a log without a checkpoint')

  await ctx.app.checkpointer.sweep()
  at.ms += 90_000
  Object.assign(ctx.app.auditWriter.stats, { inDoubt: 2, lateCommits: 3, requeued: 4, recoveredCommits: 5 })
  writeFileSync(path.join(ctx.config.policyPath, 'extra.yaml'), 'version: v1\nrules:\n  - id: extra\n    match: { topics: ["job.extra"] }\n    decision: allow\n')
  const reloaded = await ctx.app.policies.reload()
  t.ok(reloaded.ok && reloaded.changed)
  text = await scrape()
  t.equal(sample(text, 'arbiter_checkpoint_uncovered_records{tenant="acme"}'), 0)
  t.equal(sample(text, 'arbiter_checkpoint_age_seconds{tenant="acme"}'), 90, 'seconds since the checkpoint was signed, by the app\'s clock')
  t.same([2, 3, 4, 5], ['in_doubt', 'late_commits', 'requeued', 'recovered_commits'].map((n) => sample(text, `arbiter_record_${n}_total`)), 'the writer\'s own figures')
  t.equal(sample(text, `arbiter_policy_info{snapshot="${snapshot}"}`), undefined, 'the old snapshot is gone')
  t.equal(sample(text, `arbiter_policy_info{snapshot="${reloaded.ok ? reloaded.snapshotId : ''}"}`), 1, 'the new one is in force')

  if (ctx.db.kind === 'embedded') {
    t.notMatch(text, /arbiter_db_pool_connections/, 'no pool on the embedded database')
  } else {
    const total = sample(text, 'arbiter_db_pool_connections{state="total"}') ?? 0
    t.ok(total >= 1 && total <= 5, `${total} connections open (the test pool holds at most 5)`)
    t.ok((sample(text, 'arbiter_db_pool_connections{state="idle"}') ?? -1) >= 0)
    t.equal(sample(text, 'arbiter_db_pool_connections{state="waiting"}'), 0)
  }
})

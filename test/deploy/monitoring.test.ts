/**
 * The shipped dashboard and alert rules name only series Arbiter exports: every metric in every
 * PromQL expression is found in a real app's /metrics after a check.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import yaml from 'js-yaml'
import t from 'tap'
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1'
import { PACKAGE_ROOT } from '../../src/paths.js'
import { testApp } from '../helpers.js'

const DIR = path.join(PACKAGE_ROOT, 'deploy', 'monitoring')

interface Rule { alert?: string, record?: string, expr: string, for?: string, labels?: Record<string, string>, annotations?: Record<string, string> }
interface Panel { type: string, title: string, targets?: Array<{ expr: string }>, panels?: Panel[] }

const rules = yaml.load(readFileSync(path.join(DIR, 'prometheus-rules.yaml'), 'utf8')) as { kind: string, spec: { groups: Array<{ name: string, rules: Rule[] }> } }
const dashboard = JSON.parse(readFileSync(path.join(DIR, 'grafana-dashboard.json'), 'utf8')) as { uid: string, panels: Panel[] }

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan'])

/**
 * The metric names in a PromQL expression: every identifier left once strings, label matchers,
 * range selectors, grouping label lists, function calls and keywords are taken out.
 */
function metricNames (expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\boffset\s+\S+/g, ' ')
  const names = new Set<string>()
  for (const m of bare.matchAll(/([A-Za-z_:][\w:]*)(\s*\()?/g)) {
    if (m[2] !== undefined || PROMQL_WORDS.has(m[1].toLowerCase())) continue
    // A number's exponent (1e3) is not a name.
    if (/\d$/.test(bare.slice(0, m.index))) continue
    names.add(m[1])
  }
  return [...names]
}

function panelsOf (panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...panelsOf(p.panels ?? [])])
}

const exprs = [
  ...rules.spec.groups.flatMap((g) => g.rules.map((r) => ({ where: `rule ${r.alert ?? r.record ?? '?'}`, expr: r.expr }))),
  ...panelsOf(dashboard.panels).flatMap((p) => (p.targets ?? []).map((x) => ({ where: `panel "${p.title}"`, expr: x.expr })))
]

t.test('the tokenizer finds metric names and nothing else', async (t) => {
  t.same(metricNames('sum by (le, outcome) (rate(a_seconds_bucket{status="503",x=~"b(c)"}[$__rate_interval])) / on (tenant) group_left max(b_total offset 5m) > 1e3 and c'), ['a_seconds_bucket', 'b_total', 'c'])
  t.same(metricNames('time() - max by (pod) (arbiter_process_start_time_seconds)'), ['arbiter_process_start_time_seconds'])
})

t.test('the alert rules: a valid PrometheusRule, every alert with a severity and a summary', async (t) => {
  t.equal(rules.kind, 'PrometheusRule')
  t.doesNotThrow(() => new PrometheusRule(rules as never).validate(), 'valid against the PrometheusRule schema')
  const alerts = rules.spec.groups.flatMap((g) => g.rules)
  t.same(new Set(alerts.map((r) => r.alert)).size, alerts.length, 'alert names are unique')
  for (const r of alerts) {
    t.match(r, { alert: /^Arbiter[A-Z]\w+$/, expr: /\S/, labels: { severity: /^(critical|warning)$/ }, annotations: { summary: /\S/ } }, `${r.alert ?? '?'}`)
  }
  for (const wanted of ['ArbiterChecksFailingClosed', 'ArbiterApprovalsWaitingTooLong', 'ArbiterCheckpointTooOld', 'ArbiterAuditRecordsInDoubt']) {
    t.ok(alerts.some((r) => r.alert === wanted), `alerts on ${wanted}`)
  }
})

t.test('the dashboard: unique panel ids, every panel queries Prometheus', async (t) => {
  const all = panelsOf(dashboard.panels)
  t.equal(dashboard.uid, 'arbiter-overview')
  const ids = all.map((p) => (p as Panel & { id: number }).id)
  t.equal(new Set(ids).size, ids.length, 'panel ids are unique')
  for (const p of all.filter((p) => p.type !== 'row')) t.ok((p.targets ?? []).length > 0, `panel "${p.title}" has a query`)
})

t.test('every metric the rules and the dashboard name is on a real app\'s /metrics', async (t) => {
  const ctx = await testApp(t)
  t.equal((await ctx.app.inject({ method: 'POST', url: '/check', payload: { job_id: 'w1', topic: 'job.mcp-bridge.write.ticket', risk_tags: ['prod'] } })).statusCode, 200)
  await ctx.app.checkpointer.sweep()
  const text = (await ctx.app.inject({ url: '/metrics' })).body
  const types = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]))
  const exported = (name: string): boolean => {
    if (types.has(name)) return true
    const base = /^(.*)_(?:bucket|sum|count)$/.exec(name)?.[1]
    return base !== undefined && types.get(base) === 'histogram'
  }
  // The pool's series exist only on Postgres; the embedded database has no pool.
  const postgresOnly = new Set(ctx.db.kind === 'embedded' ? ['arbiter_db_pool_connections'] : [])
  let named = 0
  for (const { where, expr } of exprs) {
    const names = metricNames(expr)
    t.ok(names.length > 0, `${where} names a metric`)
    for (const name of names) {
      named++
      if (postgresOnly.has(name)) continue
      t.ok(exported(name), `${where}: ${name} is exported`)
    }
  }
  t.ok(named > 30, `${named} metric names checked`)
})

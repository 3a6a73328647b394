import t from 'tap'
import { jobHash, normalizeJob, type CheckRequest } from '../../src/policy/index.js'

const base: CheckRequest = {
  job_id: 'job-1',
  topic: 'job.mcp-bridge.write.ticket',
  tenant_id: 'acme',
  principal_id: 'agent:triage',
  session_id: 's-1',
  risk_tags: ['prod', 'customer'],
  labels: { env: 'prod', team: 'support' },
  command: 'gh issue comment 1 --body hi',
  args: { issue: 1, body: { text: 'hi', tags: ['a', 'b'] } },
  evidence: { blast_radius: 'one ticket' },
  priority: 5,
  budget: { max_cost_usd: 1 }
}
const hash = (r: CheckRequest): string => jobHash(normalizeJob(r))

t.test('the hash ignores key order, risk-tag order and duplicates, and trace_id', async (t) => {
  const h = hash(base)
  t.match(h, /^sha256:[0-9a-f]{64}$/)
  const reordered = Object.fromEntries(Object.entries(base).reverse()) as unknown as CheckRequest
  reordered.args = { body: { tags: ['a', 'b'], text: 'hi' }, issue: 1 }
  reordered.labels = { team: 'support', env: 'prod' }
  t.equal(hash(reordered), h, 'key order at every depth')
  t.equal(hash({ ...base, risk_tags: ['customer', 'prod', 'prod'] }), h, 'risk tags are a set')
  t.equal(hash({ ...base, trace_id: 'trace-9' }), h, 'trace_id is not part of the job')
  t.equal(hash({ job_id: 'x', topic: 'a.b' }), hash({ job_id: 'x', topic: 'a.b', tenant_id: 'default', risk_tags: [] }), 'defaults are applied before hashing')
})

t.test('changing any value changes the hash', async (t) => {
  const h = hash(base)
  const variants: Array<[string, Partial<CheckRequest>]> = [
    ['job_id', { job_id: 'job-2' }],
    ['topic', { topic: 'job.mcp-bridge.write.comment' }],
    ['tenant_id', { tenant_id: 'acme2' }],
    ['principal_id', { principal_id: 'agent:other' }],
    ['session_id', { session_id: 's-2' }],
    ['risk_tags', { risk_tags: ['prod'] }],
    ['labels', { labels: { env: 'prod', team: 'billing' } }],
    ['command', { command: 'gh issue close 1' }],
    ['args deep value', { args: { issue: 1, body: { text: 'hi!', tags: ['a', 'b'] } } }],
    ['args array order', { args: { issue: 1, body: { text: 'hi', tags: ['b', 'a'] } } }],
    ['args number type', { args: { issue: '1', body: { text: 'hi', tags: ['a', 'b'] } } }],
    ['evidence', { evidence: { blast_radius: 'all tickets' } }],
    ['priority', { priority: 6 }],
    ['budget', { budget: { max_cost_usd: 2 } }]
  ]
  const seen = new Set([h])
  for (const [name, change] of variants) {
    const v = hash({ ...base, ...change })
    t.not(v, h, name)
    seen.add(v)
  }
  t.equal(seen.size, variants.length + 1, 'every variant hashes differently')
  const { command: _c, ...withoutCommand } = base
  t.not(hash(withoutCommand), h, 'removing a field changes the hash')
})

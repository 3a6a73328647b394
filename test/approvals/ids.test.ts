import t from 'tap'
import type { IdGenerator } from '../../src/clock.js'
import { jobTraceId } from '../../src/jobs/trace.js'
import { approvalApp, prodWrite } from '../fixtures/approvals.js'

/** Ids that say which generator made them, counted per kind. */
function pinnedIds (): IdGenerator {
  const counts = new Map<string, number>()
  const next = (prefix: string) => (): string => {
    const n = (counts.get(prefix) ?? 0) + 1
    counts.set(prefix, n)
    return `${prefix}-0000-4000-8000-${String(n).padStart(12, '0')}`
  }
  return { decisionId: next('dddddddd'), approvalId: next('aaaaaaaa'), grantId: next('bbbbbbbb') }
}

t.test('decisions, approvals and grants take their ids from the injected generator; a trace is the job\'s own', async (t) => {
  const ctx = await approvalApp(t, { deps: { ids: pinnedIds() } })
  const asked = await ctx.check(prodWrite('i1', { trace_id: undefined }))
  t.equal(asked.decision_id, 'dddddddd-0000-4000-8000-000000000001')
  t.equal(asked.trace_id, jobTraceId('default', 'i1'))
  t.match(asked.trace_id, /^job-[0-9a-f]{32}$/)
  t.equal(asked.approval.approval_id, 'aaaaaaaa-0000-4000-8000-000000000001')

  const made = await ctx.call('POST', '/grants', ctx.tokens.alice, { session_id: 's-1', match: { topics: ['job.write.*'], risk_tags: ['prod'] }, ttl_sec: 600, max_uses: 1, note: 'n' })
  t.equal(made.json().grant_id, 'bbbbbbbb-0000-4000-8000-000000000001')
  const used = await ctx.check(prodWrite('i2', { session_id: 's-1' }))
  t.equal(used.grant_ref, 'bbbbbbbb-0000-4000-8000-000000000001')
  t.equal(used.decision_id, 'dddddddd-0000-4000-8000-000000000002')
})

/**
 * An app with a policy that asks for approvals, a clock the test moves, and the people of an
 * approval: a scheduler that asks, reviewers that vote, an auditor that only looks.
 */
import type { LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import { testApp, verifyLog, type TestApp, type TestAppOptions } from '../helpers.js'

export const POLICY = `
version: v1
rules:
  - id: allow-reads
    match: { topics: ["job.read.*"] }
    decision: allow
  - id: prod-write
    match: { topics: ["job.write.*"], risk_tags: [prod] }
    decision: require_approval
    reason: Production writes need review
    constraints: { max_runtime_sec: 60 }
  - id: two-person-deploy
    match: { topics: ["job.deploy.*"] }
    decision: require_approval
    reason: Deploys need two reviewers
    approval: { approvers: 2, roles: [reviewer], ttl_sec: 600, dispatch_window_sec: 120 }
  - id: deny-destructive
    match: { risk_tags: [destructive] }
    decision: deny
`

export const START = Date.UTC(2026, 10, 25, 12)

export interface ApprovalCtx extends TestApp {
  clock: { now: () => Date, advance: (sec: number) => void }
  /** scheduler (principal sched-1), reviewers alice, bob, carol, an auditor, and the agent itself as a reviewer. */
  tokens: Record<'scheduler' | 'alice' | 'bob' | 'carol' | 'auditor' | 'agent' | 'schedReviewer', string>
  check: (body: Record<string, unknown>, token?: string) => Promise<Record<string, any>>
  call: (method: 'GET' | 'POST' | 'DELETE', url: string, token: string, payload?: Record<string, unknown>) => Promise<LightMyRequestResponse>
  vote: (jobId: string, how: 'approve' | 'deny' | 'reject', token: string, payload?: Record<string, unknown>) => Promise<LightMyRequestResponse>
  verify: (tenant?: string) => Promise<{ seq: number, problem: string } | number>
}

export async function approvalApp (t: Test, options: TestAppOptions & { clockAt?: { ms: number } } = {}): Promise<ApprovalCtx> {
  const at = options.clockAt ?? { ms: START }
  const clock = { now: () => new Date(at.ms), advance: (sec: number) => { at.ms += sec * 1000 } }
  const ctx = await testApp(t, { policies: { 'p.yaml': POLICY }, ...options, deps: { clock, ...options.deps } })
  const key = async (principal: string, roles: Array<'scheduler' | 'reviewer' | 'auditor' | 'admin'>): Promise<string> =>
    await ctx.token({ principal_id: principal, roles, tenants: ['*'] })
  const tokens = {
    scheduler: await key('sched-1', ['scheduler']),
    alice: await key('alice', ['reviewer']),
    bob: await key('bob', ['reviewer']),
    carol: await key('carol', ['reviewer']),
    auditor: await key('audit-1', ['auditor']),
    agent: await key('agent:bot', ['reviewer']),
    schedReviewer: await key('sched-1', ['reviewer'])
  }
  const call = async (method: 'GET' | 'POST' | 'DELETE', url: string, token: string, payload?: Record<string, unknown>): Promise<LightMyRequestResponse> =>
    await ctx.app.inject({ method, url, payload, headers: { authorization: `Bearer ${token}` } })
  return {
    ...ctx,
    clock,
    tokens,
    call,
    check: async (body, token = tokens.scheduler) => {
      const res = await call('POST', '/check', token, body)
      if (res.statusCode !== 200) throw new Error(`check answered ${res.statusCode}: ${res.body}`)
      return res.json()
    },
    vote: async (jobId, how, token, payload = {}) => await call('POST', `/approvals/${encodeURIComponent(jobId)}/${how}`, token, payload),
    verify: async (tenant = 'default') => await verifyLog(ctx.db, tenant, new Map([[ctx.deps.key.id, ctx.deps.key.secret]]))
  }
}

/** A production write for agent:bot: needs one reviewer. */
export function prodWrite (jobId: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { job_id: jobId, topic: 'job.write.ticket', risk_tags: ['prod'], principal_id: 'agent:bot', trace_id: `trace-${jobId}`, args: { id: 42, fields: { status: 'closed' } }, ...extra }
}

/** A deploy for agent:bot: needs two reviewers. */
export function deploy (jobId: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { job_id: jobId, topic: 'job.deploy.api', principal_id: 'agent:bot', trace_id: `trace-${jobId}`, ...extra }
}

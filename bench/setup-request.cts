/**
 * autocannon's per-request hook: a fresh, realistic job each time. CommonJS because autocannon
 * require()s it by path inside its worker thread.
 */
import { randomBytes } from 'node:crypto'
import type { Request } from 'autocannon'

/** Jobs that, under policies/base.yaml, are allowed and constrained. */
const JOBS = [
  { topic: 'job.mcp-bridge.read.ticket', risk_tags: [], command: 'get_ticket', args: { ticket_id: 'T-1042' } },
  { topic: 'job.mcp-bridge.read.ticket', risk_tags: [], command: 'list_comments', args: { ticket_id: 'T-1042', limit: 50 } },
  { topic: 'job.agent.exec.shell', risk_tags: ['medium'], command: 'df -h /srv', args: { cwd: '/srv' } }
]

/**
 * One job in BENCH_APPROVAL_EVERY (100 unless set) needs approval. Each such check opens a
 * pending approval (a human's work item) in its own transaction, so a mix where a quarter of the
 * jobs did, as this bench once had, measured a flood no reviewer could face rather than an agent
 * fleet (docs/performance.md). bench/run.ts sets 1 and 10 for its approval runs; read for each
 * job, as the tenants are.
 */
function approvalEvery (): number {
  const every = Number(process.env.BENCH_APPROVAL_EVERY ?? 100)
  return Number.isInteger(every) && every >= 1 ? every : 100
}
const NEEDS_APPROVAL = { topic: 'job.mcp-bridge.write.ticket', risk_tags: ['prod'], command: 'close_ticket', args: { ticket_id: 'T-1042', resolution: 'fixed' } }

// Each worker (and each run) loads this afresh: the prefix keeps job ids distinct across them.
const prefix = randomBytes(3).toString('hex')
let seq = 0

/**
 * The tenant of job n: 'acme', or one of BENCH_TENANTS tenants in turn (bench/scaling.ts sets it
 * between runs, so it is read for each job).
 */
function tenantOf (n: number): string {
  const tenants = Number(process.env.BENCH_TENANTS ?? 1)
  return tenants > 1 ? `tenant-${n % tenants}` : 'acme'
}

function setupRequest (request: Request): Request {
  const n = seq++
  const every = approvalEvery()
  const body = JSON.stringify({
    job_id: `bench-${prefix}-${n}`,
    ...(n % every === every - 1 ? NEEDS_APPROVAL : JOBS[n % JOBS.length]),
    tenant_id: tenantOf(n),
    principal_id: 'agent:triage-bot',
    session_id: `sess-${prefix}-${Math.floor(n / 100)}`,
    labels: { env: 'prod', team: 'support' },
    priority: 5
  })
  return { ...request, body }
}

export = setupRequest

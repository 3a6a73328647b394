/**
 * autocannon's per-request hook: a fresh, realistic job each time. CommonJS because autocannon
 * require()s it by path inside its worker thread.
 */
import { randomBytes } from 'node:crypto'
import type { Request } from 'autocannon'

/** Jobs that, under policies/base.yaml, allow, constrain and require approval. */
const JOBS = [
  { topic: 'job.mcp-bridge.read.ticket', risk_tags: [], command: 'get_ticket', args: { ticket_id: 'T-1042' } },
  { topic: 'job.mcp-bridge.read.ticket', risk_tags: [], command: 'list_comments', args: { ticket_id: 'T-1042', limit: 50 } },
  { topic: 'job.mcp-bridge.write.ticket', risk_tags: ['prod'], command: 'close_ticket', args: { ticket_id: 'T-1042', resolution: 'fixed' } },
  { topic: 'job.agent.exec.shell', risk_tags: ['medium'], command: 'df -h /srv', args: { cwd: '/srv' } }
]

// Each worker (and each run) loads this afresh: the prefix keeps job ids distinct across them.
const prefix = randomBytes(3).toString('hex')
let seq = 0

function setupRequest (request: Request): Request {
  const n = seq++
  const body = JSON.stringify({
    job_id: `bench-${prefix}-${n}`,
    ...JOBS[n % JOBS.length],
    tenant_id: 'acme',
    principal_id: 'agent:triage-bot',
    session_id: `sess-${prefix}-${Math.floor(n / 100)}`,
    labels: { env: 'prod', team: 'support' },
    priority: 5
  })
  return { ...request, body }
}

export = setupRequest

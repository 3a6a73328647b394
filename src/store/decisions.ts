import type { SignedDecision, StoredDecision } from '../audit/decision-record.js'
import type { Queryable } from './db.js'

const COLUMNS = ['decision_id', 'trace_id', 'job_id', 'tenant_id', 'topic', 'decision', 'rule_id', 'job_hash', 'policy_snapshot', 'checked_at', 'record', 'key_id', 'signature'] as const

function values (d: SignedDecision): unknown[] {
  const f = d.fields
  return [f.decision_id, f.trace_id, f.job.job_id, f.job.tenant_id, f.job.topic, f.decision, f.rule_id, f.job_hash, f.policy_snapshot, f.checked_at, d.canonical, d.keyId, d.mac]
}

/** Inserts signed decisions in one statement, in the order given. */
export async function insertDecisions (q: Queryable, decisions: readonly SignedDecision[]): Promise<void> {
  if (decisions.length === 0) return
  const params: unknown[] = []
  const tuples = decisions.map((d) => {
    const start = params.length
    params.push(...values(d))
    return `(${COLUMNS.map((_, i) => `$${start + i + 1}`).join(', ')})`
  })
  await q.query(`insert into decisions (${COLUMNS.join(', ')}) values ${tuples.join(', ')}`, params)
}

const SELECT = `select seq::text as seq, ${COLUMNS.join(', ')} from decisions`

export type DecisionRow = StoredDecision & { seq: string }

export async function getDecision (q: Queryable, decisionId: string): Promise<DecisionRow | undefined> {
  const { rows } = await q.query<DecisionRow>(`${SELECT} where decision_id = $1`, [decisionId])
  return rows[0]
}

export async function listDecisionsByTrace (q: Queryable, traceId: string): Promise<DecisionRow[]> {
  const { rows } = await q.query<DecisionRow>(`${SELECT} where trace_id = $1 order by seq`, [traceId])
  return rows
}

export async function countDecisions (q: Queryable): Promise<number> {
  const { rows } = await q.query<{ n: number }>('select count(*)::int as n from decisions')
  return rows[0].n
}

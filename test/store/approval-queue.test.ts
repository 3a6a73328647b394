import { randomUUID } from 'node:crypto'
import { readdirSync, symlinkSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import type { ApprovalStatus } from '../../src/domain/approval-status.js'
import { MIGRATIONS_DIR } from '../../src/paths.js'
import { changeApproval, insertApproval, insertFirstApprovals, queueFull, type ApprovalRow, type NewApproval } from '../../src/store/approvals.js'
import type { Database } from '../../src/store/db.js'
import { migrate } from '../../src/store/migrate.js'
import { tempDir, testDatabase } from '../helpers.js'

const NOW = new Date('2026-12-01T12:00:00Z')

function approval<S extends NewApproval['status'] = 'PENDING'> (tenant: string, job: string, status = 'PENDING' as S, more: Partial<Omit<NewApproval, 'status'>> = {}): NewApproval & { status: S } {
  return {
    approval_id: randomUUID(),
    tenant_id: tenant,
    job_id: job,
    job_hash: `h-${job}`,
    job: '{}',
    topic: 'job.t',
    trace_id: `t-${job}`,
    status,
    rule_id: 'r',
    reason: 'needs a person',
    constraints: null,
    policy_snapshot: 'p',
    requested_by: { principal: 'sched' },
    requester_principal: 'sched',
    agent_principal: null,
    approvals_required: 1,
    approver_roles: [],
    dispatch_window_sec: 60,
    requested_decision_id: randomUUID(),
    created_at: NOW,
    expires_at: new Date(NOW.getTime() + 3600_000),
    session_id: null,
    single_flight: false,
    ttl_sec: 3600,
    ...more
  }
}

/** One approval opened in the one statement, if it was. */
async function insertFirstApproval (db: Database, a: NewApproval & { status: 'PENDING' }, max: number): Promise<ApprovalRow | undefined> {
  return (await insertFirstApprovals(db, [a], max))[0]
}

/** The policy snapshot the approvals name. */
async function withSnapshot (db: Database): Promise<void> {
  await db.query("insert into policy_snapshots (snapshot_id, version, canonical, sources) values ('p', '1', '{}', '[]')")
}

/** What the kept sizes say, and what counting the approvals says, per tenant. */
async function sizes (db: Database): Promise<{ kept: Record<string, number>, counted: Record<string, number> }> {
  const kept = (await db.query<{ tenant_id: string, waiting: number }>('select tenant_id, waiting from approval_queue_sizes where waiting <> 0 order by tenant_id')).rows
  const counted = (await db.query<{ tenant_id: string, n: number }>("select tenant_id, count(*)::int as n from approvals where status in ('QUEUED', 'PENDING') group by tenant_id order by tenant_id")).rows
  return { kept: Object.fromEntries(kept.map((r) => [r.tenant_id, r.waiting])), counted: Object.fromEntries(counted.map((r) => [r.tenant_id, r.n])) }
}

t.test('an upgrade counts the approvals already waiting, and every change after it keeps the count', async (t) => {
  const { db } = await testDatabase(t)
  const before = tempDir(t, 'arbiter-migrations-')
  for (const file of readdirSync(MIGRATIONS_DIR).filter((f) => f < '0014')) symlinkSync(path.join(MIGRATIONS_DIR, file), path.join(before, file))
  await migrate(db, before)
  await withSnapshot(db)
  const ids = new Map<string, { id: string, status: ApprovalStatus }>()
  for (const [tenant, job, status] of [['acme', 'a1', 'PENDING'], ['acme', 'a2', 'QUEUED'], ['acme', 'a3', 'PENDING'], ['beta', 'b1', 'PENDING']] as const) {
    const a = await insertApproval(db, approval(tenant, job, status))
    ids.set(job, { id: a.approval_id, status })
  }
  await changeApproval(db, ids.get('a3')?.id ?? '', 'PENDING', { status: 'DENIED' })
  t.same(await migrate(db), ['0014_approval_queue_sizes.sql'])
  t.same(await sizes(db), { kept: { acme: 2, beta: 1 }, counted: { acme: 2, beta: 1 } }, 'the approvals waiting at the upgrade are counted')

  // Every way an approval moves, in a random order over three tenants: the kept count and the
  // count of the rows agree after each step.
  const live: Array<{ id: string, status: ApprovalStatus }> = [...ids.values()].filter((a) => a.status !== 'PENDING' || a.id !== ids.get('a3')?.id)
  const next: Record<string, ApprovalStatus[]> = { QUEUED: ['PENDING', 'CANCELLED', 'SUPERSEDED'], PENDING: ['APPROVED', 'DENIED', 'EXPIRED', 'PENDING', 'INVALIDATED'], APPROVED: ['CONSUMED', 'EXPIRED'] }
  let seed = 7
  const pick = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n }
  for (let step = 0; step < 150; step++) {
    const movable = live.filter((a) => next[a.status] !== undefined)
    if (pick(3) === 0 || movable.length === 0) {
      const a = await insertApproval(db, approval(['acme', 'beta', 'gamma'][pick(3)], `j${step}`, pick(2) === 0 ? 'PENDING' : 'QUEUED'))
      live.push({ id: a.approval_id, status: a.status })
    } else if (pick(10) === 0) {
      const a = movable[pick(movable.length)]
      await db.query('delete from approvals where approval_id = $1', [a.id])
      live.splice(live.indexOf(a), 1)
    } else {
      const a = movable[pick(movable.length)]
      const options = next[a.status]
      const to = options[pick(options.length)]
      t.ok(await changeApproval(db, a.id, a.status, { status: to }), `${a.status} → ${to}`)
      a.status = to
    }
    const { kept, counted } = await sizes(db)
    if (JSON.stringify(kept) !== JSON.stringify(counted)) {
      t.same(kept, counted, `the kept count drifted at step ${step}`)
      return
    }
  }
  t.pass('the kept count matched the rows after each of 150 steps')
})

t.test('the queue bound: the kept count answers at once below it; at it, the exact count decides, which leaves out what ran out', async (t) => {
  const { db } = await testDatabase(t)
  await migrate(db)
  await withSnapshot(db)
  t.equal(await queueFull(db, 'acme', NOW, 2), false, 'an empty queue has room')
  await insertApproval(db, approval('acme', 'q1'))
  t.equal(await queueFull(db, 'acme', NOW, 2), false)
  // Run out an hour ago, and not swept: still counted as waiting by the kept count.
  await insertApproval(db, approval('acme', 'q2', 'PENDING', { created_at: new Date(NOW.getTime() - 7200_000), expires_at: new Date(NOW.getTime() - 3600_000) }))
  t.equal(await queueFull(db, 'acme', NOW, 2), false, 'one waits, one ran out: room for a second')
  t.ok(await insertFirstApproval(db, approval('acme', 'q3'), 2), 'opened in one statement: the run-out one does not count')
  t.equal(await queueFull(db, 'acme', NOW, 2), true, 'two wait: full')
  t.equal(await insertFirstApproval(db, approval('acme', 'q4'), 2), undefined, 'the one statement opens nothing in a full queue')
  await insertApproval(db, approval('acme', 'q5', 'QUEUED'))
  t.equal(await queueFull(db, 'acme', NOW, 3), true, 'a queued one counts')
  t.equal(await queueFull(db, 'beta', NOW, 1), false, 'each tenant has its own queue')
})

t.test('the one statement opens a first approval only when nothing in the database stands in its way', async (t) => {
  const { db } = await testDatabase(t)
  await migrate(db)
  await withSnapshot(db)
  const first = await insertFirstApproval(db, approval('acme', 'f1', 'PENDING', { session_id: 's1', single_flight: true }), 10)
  t.match(first, { job_id: 'f1', status: 'PENDING', session_id: 's1', single_flight: true }, 'a new job, an empty line')
  t.equal(await insertFirstApproval(db, approval('acme', 'f1'), 10), undefined, 'the job has an approval already')
  await changeApproval(db, first?.approval_id ?? '', 'PENDING', { status: 'DENIED' })
  t.equal(await insertFirstApproval(db, approval('acme', 'f1'), 10), undefined, 'even a closed one: the full steps decide what it means')
  t.equal(await insertFirstApproval(db, approval('acme', 'f2', 'PENDING', { session_id: 's2', single_flight: true }), 10) !== undefined, true, 'the line of s1 is empty again; s2 had none')
  t.equal(await insertFirstApproval(db, approval('acme', 'f3', 'PENDING', { session_id: 's2', single_flight: true }), 10), undefined, 'one is in front of the line of s2')
  t.ok(await insertFirstApproval(db, approval('acme', 'f4', 'PENDING', { session_id: 's2' }), 10), 'a job of that session that is not single-flight is not in its line')
  t.ok(await insertFirstApproval(db, approval('beta', 'f3', 'PENDING', { session_id: 's2', single_flight: true }), 10), 'another tenant\'s session of the same name is another line')
})

t.test('many first approvals in one statement: in order, each as it would be alone, none that one before it stands in the way of', async (t) => {
  const { db } = await testDatabase(t)
  await migrate(db)
  await withSnapshot(db)
  await insertApproval(db, approval('acme', 'old'))
  const rows = [
    approval('acme', 'n1', 'PENDING', { constraints: { max_runtime_sec: 10 }, approver_roles: [['sre'], ['dba']] }),
    approval('acme', 'n1'),
    approval('acme', 'line-a', 'PENDING', { session_id: 's1', single_flight: true }),
    approval('acme', 'line-b', 'PENDING', { session_id: 's1', single_flight: true }),
    approval('acme', 'old'),
    approval('acme', 'free', 'PENDING', { session_id: 's1' }),
    approval('beta', 'n1', 'PENDING', { session_id: 's1', single_flight: true })
  ]
  const opened = await insertFirstApprovals(db, rows, 100)
  t.same(opened.map((a) => a?.job_id), ['n1', undefined, 'line-a', undefined, undefined, 'free', 'n1'], 'the same job again, a second in the same line, and a job with an approval are left to the full steps')
  t.same(opened.map((a) => a?.approval_id), rows.map((a, i) => opened[i] === undefined ? undefined : a.approval_id), 'each output is its own input\'s')
  const ordinals = opened.filter((a) => a !== undefined).map((a) => a.ordinal)
  t.same(ordinals, [...ordinals].sort((a, b) => a - b), 'opened in the order given')
  t.match(opened[0], { status: 'PENDING', constraints: { max_runtime_sec: 10 }, approver_roles: [['sre'], ['dba']], requested_by: { principal: 'sched' }, created_at: NOW })
  t.equal(opened[2]?.constraints, null, 'no constraints is SQL null')
  t.same(await sizes(db), { kept: { acme: 4, beta: 1 }, counted: { acme: 4, beta: 1 } })

  // Room for some but not all: none, and each goes to the full steps, which count exactly.
  const more = await insertFirstApprovals(db, [approval('acme', 'm1'), approval('acme', 'm2')], 5)
  t.same(more, [undefined, undefined], 'the queue has room for one of the two: neither is opened here')
  t.same((await insertFirstApprovals(db, [approval('acme', 'm1')], 5)).map((a) => a?.job_id), ['m1'], 'alone, it fits')
  t.same(await insertFirstApprovals(db, [], 5), [], 'nothing to open, no statement')
})

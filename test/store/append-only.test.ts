import t from 'tap'
import { signDecision } from '../../src/audit/decision-record.js'
import { insertDecisions } from '../../src/store/decisions.js'
import { migrate } from '../../src/store/migrate.js'
import { saveSnapshot } from '../../src/store/snapshots.js'
import { testDatabase } from '../helpers.js'

t.test('the database refuses to edit, delete or truncate decisions and snapshots', async (t) => {
  const { db } = await testDatabase(t)
  await migrate(db)
  await saveSnapshot(db, { snapshotId: 'sha256:00', version: 'v1', canonical: '{}', sources: [] })
  const signed = signDecision({
    decision_id: '00000000-0000-4000-8000-000000000001',
    trace_id: 't1',
    checked_at: new Date(0).toISOString(),
    job: { job_id: 'j', topic: 'a.b', tenant_id: 'default', risk_tags: [] },
    job_hash: 'sha256:x',
    decision: 'ALLOW',
    reason: 'r',
    rule_id: 'x',
    matched_rules: ['x'],
    policy_snapshot: 'sha256:00'
  }, { id: 'hk_test', secret: Buffer.alloc(32, 1) })
  await insertDecisions(db, [signed])

  const refused = /append-only/
  await t.rejects(db.query("update decisions set decision = 'DENY'"), refused, 'UPDATE')
  await t.rejects(db.query('delete from decisions'), refused, 'DELETE')
  await t.rejects(db.query('truncate decisions'), refused, 'TRUNCATE')
  await t.rejects(db.query("update policy_snapshots set canonical = 'x'"), refused, 'UPDATE snapshot')
  await t.rejects(db.query('delete from policy_snapshots'), refused, 'DELETE snapshot')
  await t.rejects(db.query('truncate policy_snapshots cascade'), refused, 'TRUNCATE snapshot')

  // Replication mode skips ordinary triggers; these are ENABLE ALWAYS.
  await t.rejects(db.transaction(async (tx) => {
    await tx.query("set local session_replication_role = 'replica'")
    await tx.query("update decisions set decision = 'DENY'")
  }), refused, 'UPDATE under session_replication_role = replica')
  await t.rejects(db.transaction(async (tx) => {
    await tx.query("set local session_replication_role = 'replica'")
    await tx.query('delete from decisions')
  }), refused, 'DELETE under session_replication_role = replica')

  const { rows } = await db.query<{ decision: string, record: string }>('select decision, record from decisions')
  t.same(rows, [{ decision: 'ALLOW', record: signed.canonical }], 'the row is as written')
})

import { performance } from 'node:perf_hooks'
import t from 'tap'
import { AuditWriter } from '../../src/ledger/writer.js'
import { migrate } from '../../src/store/migrate.js'
import { saveSnapshot } from '../../src/store/snapshots.js'
import { testDatabase } from '../helpers.js'

t.test('the database refuses to edit, delete or truncate the log, checkpoints and snapshots', async (t) => {
  const { db } = await testDatabase(t)
  await migrate(db)
  await saveSnapshot(db, { snapshotId: 'sha256:00', version: 'v1', canonical: '{}', sources: [] })
  const writer = new AuditWriter(db, { id: 'hk_test', secret: Buffer.alloc(32, 1) })
  const sealed = await writer.append({ type: 'job.event', tenant_id: 'default', trace_id: 't', job_id: 'j', at: new Date(0).toISOString(), actor: null, body: { status: 'RUNNING' } }, performance.now() + 10000)
  await db.query(`insert into audit_checkpoints (tenant_id, seq, head_hash, at, key_id, statement, signature)
    values ('default', 1, 'h', now(), 'ek', '{}', 'sig')`)

  const refused = /append-only/
  const attempts: Array<[string, string]> = [
    ['UPDATE log', "update audit_log set record_type = 'decision'"],
    ['DELETE log', 'delete from audit_log'],
    ['TRUNCATE log', 'truncate audit_log'],
    ['UPDATE checkpoint', "update audit_checkpoints set head_hash = 'x'"],
    ['DELETE checkpoint', 'delete from audit_checkpoints'],
    ['TRUNCATE checkpoints', 'truncate audit_checkpoints'],
    ['UPDATE snapshot', "update policy_snapshots set canonical = 'x'"],
    ['DELETE snapshot', 'delete from policy_snapshots'],
    ['TRUNCATE snapshots', 'truncate policy_snapshots cascade']
  ]
  for (const [name, sql] of attempts) {
    await t.rejects(db.query(sql), refused, name)
    // Replication mode skips ordinary triggers; these are ENABLE ALWAYS.
    await t.rejects(db.transaction(async (tx) => {
      await tx.query("set local session_replication_role = 'replica'")
      await tx.query(sql)
    }), refused, `${name} under session_replication_role = replica`)
  }
  const { rows } = await db.query<{ record: string }>('select record from audit_log')
  t.same(rows, [{ record: sealed.canonical }], 'the row is as written')
})

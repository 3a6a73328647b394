/**
 * The audit log's time partitions (migrations/0013): made ahead by the server, never a write
 * refused for want of one whatever the clock does, and an existing log moved into the
 * partitioned form without a record rewritten.
 */
import { readdirSync, symlinkSync } from 'node:fs'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import t from 'tap'
import { sealRecord, type AuditEntry } from '../../src/audit/chain.js'
import { loadCheckpointKey } from '../../src/audit/checkpoint-key.js'
import type { Clock } from '../../src/clock.js'
import { loadConfig } from '../../src/config.js'
import { AuditWriter } from '../../src/ledger/writer.js'
import { MIGRATIONS_DIR } from '../../src/paths.js'
import { createServices } from '../../src/services.js'
import type { Queryable } from '../../src/store/db.js'
import { appendAndCommit, lockHead } from '../../src/store/log-append.js'
import { migrate } from '../../src/store/migrate.js'
import { listPartitions, periodStart } from '../../src/store/partitions.js'
import { captureLogger, holdTableLock, ON_POSTGRES, policyDir, tempDir, testDatabase, verifyLog } from '../helpers.js'

const key = { id: 'hk_test', secret: Buffer.alloc(32, 7) }
const ring = new Map([[key.id, key.secret]])
const later = (): number => performance.now() + 20_000

function entry (tenant: string, at: Date, i: number): AuditEntry {
  return { type: 'job.event', tenant_id: tenant, trace_id: `t-${i}`, job_id: `j-${i}`, at: at.toISOString(), actor: null, body: { status: 'RUNNING', i } }
}

/** Where each record of a log was filed: its seq, its partition and its filed_at. */
async function filed (q: Queryable, tenant: string): Promise<Array<{ seq: number, partition: string, filed_at: string }>> {
  const { rows } = await q.query<{ seq: number, partition: string, filed_at: string }>(
    `select seq::int as seq, tableoid::regclass::text as partition, to_char(filed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') as filed_at
       from audit_log where tenant_id = $1 order by seq`, [tenant])
  return rows.map((r) => ({ ...r, partition: r.partition.replace(/^.*\./, '') }))
}

const names = async (q: Queryable): Promise<string[]> => (await listPartitions(q)).map((p) => p.name)

t.test('partitions are made ahead of a clock that crosses a month, and an append past them makes its own', async (t) => {
  const { db } = await testDatabase(t)
  let now = Date.parse('2027-01-31T23:59:59.000Z')
  const clock: Clock = { now: () => new Date(now) }
  const dataDir = tempDir(t)
  const config = loadConfig({ DATA_DIR: dataDir, POLICY_PATH: policyDir(t), LOG_LEVEL: 'silent' })
  const services = await createServices(config, { db, key, checkpointKey: await loadCheckpointKey({ dataDir }), logger: captureLogger().logger, clock })
  t.teardown(async () => await services.close())
  t.same(await names(db), ['audit_log_20270101', 'audit_log_20270201', 'audit_log_20270301'], 'at start: this month and the two after it')

  let i = 0
  const append = async (): Promise<number> => (await services.writer.append(entry('acme', clock.now(), ++i), later())).seq
  await append()
  now = Date.parse('2027-02-01T00:00:01.000Z')
  await append()
  t.same((await filed(db, 'acme')).map((r) => r.partition), ['audit_log_20270101', 'audit_log_20270201'], 'each record in its month, both made before it was needed')

  await services.keepPartitions()
  t.same(await names(db), ['audit_log_20270101', 'audit_log_20270201', 'audit_log_20270301', 'audit_log_20270401'], 'the hourly pass keeps two months ahead')

  // Past everything made ahead (a server down for months, a clock stepped forward): the append
  // makes a day's partition itself rather than fail.
  now = Date.parse('2027-09-15T12:00:00.000Z')
  t.equal(await append(), 3, 'an append past every partition is not refused')
  t.match(await filed(db, 'acme'), [{}, {}, { seq: 3, partition: 'audit_log_20270915', filed_at: '2027-09-15T12:00:00' }])
  await services.keepPartitions()
  t.same((await listPartitions(db)).filter((p) => p.lo !== null && p.lo >= new Date('2027-09-01')).map((p) => [p.name, p.lo?.toISOString(), p.hi.toISOString()]), [
    ['audit_log_20270901', '2027-09-01T00:00:00.000Z', '2027-09-15T00:00:00.000Z'],
    ['audit_log_20270915', '2027-09-15T00:00:00.000Z', '2027-09-16T00:00:00.000Z'],
    ['audit_log_20270916', '2027-09-16T00:00:00.000Z', '2027-10-01T00:00:00.000Z'],
    ['audit_log_20271001', '2027-10-01T00:00:00.000Z', '2027-11-01T00:00:00.000Z'],
    ['audit_log_20271101', '2027-11-01T00:00:00.000Z', '2027-12-01T00:00:00.000Z']
  ], 'the month is made around the day already there, with no overlap')

  // A clock stepped back files its records where the log already is: a log's records filed
  // before any date are always a prefix of it, which is what lets whole partitions leave.
  now = Date.parse('2027-02-10T00:00:00.000Z')
  t.equal(await append(), 4)
  t.match((await filed(db, 'acme'))[3], { seq: 4, partition: 'audit_log_20270915', filed_at: '2027-09-15T12:00:00' }, 'filed no earlier than the record before it')
  // Another log is a log of its own: it files by its own records.
  t.equal((await services.writer.append(entry('beta', clock.now(), ++i), later())).seq, 1)
  t.match(await filed(db, 'beta'), [{ partition: 'audit_log_20270201' }])
  t.equal(await verifyLog(db, 'acme', ring), 4, 'the chain verifies across the partitions')

  // Every partition, old or new, refuses edits as the log always has.
  for (const name of ['audit_log_20270101', 'audit_log_20270915']) {
    await t.rejects(db.query(`truncate ${name}`), /append-only/, `TRUNCATE ${name}`)
    await t.rejects(db.query(`delete from ${name}`), /append-only/, `DELETE from ${name}`)
  }
  await t.rejects(db.query("update audit_log set filed_at = '2027-01-01'"), /append-only/, 'no record moves to another partition')
})

t.test('the unit can be a day', async (t) => {
  const { db } = await testDatabase(t)
  await migrate(db)
  const config = loadConfig({ DATA_DIR: tempDir(t), POLICY_PATH: policyDir(t), LOG_LEVEL: 'silent', AUDIT_PARTITION: 'day' })
  t.equal(config.auditPartition, 'day')
  t.throws(() => loadConfig({ DATA_DIR: tempDir(t), AUDIT_PARTITION: 'week' }), /AUDIT_PARTITION/)
  t.same(periodStart(new Date('2027-03-31T22:00:00Z'), 'day', 1), new Date('2027-04-01T00:00:00Z'))
  t.same(periodStart(new Date('2027-12-31T22:00:00Z'), 'month', 1), new Date('2028-01-01T00:00:00Z'))
  t.same(periodStart(new Date('2027-01-15T00:00:00Z'), 'month', -12), new Date('2026-01-01T00:00:00Z'))
  await t.rejects(db.query("select arbiter_audit_partition(now(), 'week')"), /a month or a day/)
})

t.test('an existing log becomes the first partition: no record rewritten, the chain goes on', async (t) => {
  const { db } = await testDatabase(t)
  // The database as the release before partitioning left it.
  const before = tempDir(t, 'arbiter-migrations-')
  for (const file of readdirSync(MIGRATIONS_DIR).filter((f) => f < '0013')) symlinkSync(path.join(MIGRATIONS_DIR, file), path.join(before, file))
  await migrate(db, before)
  // Appended as that release did: its arbiter_append (migrations/0005), one record a statement.
  const base = Date.parse('2026-06-10T00:00:00.000Z')
  const heads = new Map<string, { seq: number, hash: string }>()
  for (let i = 0; i < 40; i++) {
    const tenant = i % 3 === 0 ? 'beta' : 'acme'
    const from = heads.get(tenant) ?? await lockHead(db, tenant)
    const sealed = sealRecord(entry(tenant, new Date(base + i * 86_400_000), i), from.seq + 1, from.hash, key)
    t.equal(await appendAndCommit(db, tenant, from, [sealed], 5000, 5000), true)
    heads.set(tenant, { seq: sealed.seq, hash: sealed.hash })
  }
  const snapshot = async (): Promise<unknown[]> => (await db.query('select tenant_id, seq::int, record, key_id, signature, prev_hash, hash, at, recorded_at from audit_log order by tenant_id, seq')).rows
  const rows = await snapshot()

  t.equal((await migrate(db))[0], '0013_partitioned_log.sql')
  t.same(await snapshot(), rows, 'every record as it was: same text, signature, hash and times')
  // Up to the month after the upgrade's: a record the old release signed this month is in it too.
  const end = periodStart(new Date(), 'month', 1)
  const [legacy] = await listPartitions(db)
  t.match(legacy, { name: 'audit_log_legacy', lo: null, hi: end }, 'the old table holds everything before the month after the upgrade')
  const writer2 = new AuditWriter(db, key)
  t.equal((await writer2.append(entry('acme', new Date('2026-07-30T00:00:00.000Z'), 98), later())).seq, 27, 'the log goes on from its head')
  const next = await writer2.append(entry('acme', new Date(end.getTime() + 86_400_000), 99), later())
  t.equal(next.seq, 28)
  t.match((await filed(db, 'acme')).slice(-2), [{ partition: 'audit_log_legacy' }, { partition: `audit_log_${new Date(end.getTime() + 86_400_000).toISOString().slice(0, 10).replaceAll('-', '')}` }])
  t.equal(await verifyLog(db, 'acme', ring), 28)
  t.equal(await verifyLog(db, 'beta', ring), 14)
  await t.rejects(db.query('delete from audit_log_legacy'), /append-only/, 'the old table refuses deletes still')
  await t.rejects(db.query('truncate audit_log_legacy'), /append-only/, 'and truncation')
  const { rows: notify } = await db.query("select tgname from pg_trigger where tgrelid = 'audit_log_legacy'::regclass and not tgisinternal order by tgname")
  t.same(notify.map((r) => (r as { tgname: string }).tgname), ['audit_log_no_truncate', 'audit_log_no_update_delete', 'audit_log_notify'], 'its triggers are the parent\'s now, each once')
})

t.test('an append that makes its own partition does not wait for transactions that appended before it', { skip: ON_POSTGRES ? false : 'the embedded database has one connection: nothing runs beside a transaction' }, async (t) => {
  const testDb = await testDatabase(t)
  const { db } = testDb
  await migrate(db)
  // Another instance's transaction has appended and is still open: it holds what an append holds.
  const release = await holdTableLock(testDb, 'audit_log', 'row exclusive')
  const writer = new AuditWriter(db, key)
  // Were it to wait for the other transaction, its budget would run out first: a 503.
  const appended = await writer.append(entry('acme', new Date('2031-05-05T00:00:00Z'), 1), performance.now() + 5_000).finally(release)
  t.equal(appended.seq, 1, 'appended, in a partition of its own making, with the other transaction still open')
  t.match(await filed(db, 'acme'), [{ partition: 'audit_log_20310505' }])
})

t.test('partition bounds do not depend on the session\'s date style or time zone', async (t) => {
  const { db } = await testDatabase(t)
  await migrate(db)
  const bound = async (c: Queryable): Promise<string> => {
    await c.query("set timezone = 'UTC'")
    const { rows } = await c.query<{ bound: string }>("select pg_get_expr(relpartbound, oid) as bound from pg_class where relname = 'audit_log_20300310' and relnamespace = current_schema()::regnamespace")
    await c.query('reset timezone')
    return rows[0].bound
  }
  await db.session(async (c) => {
    // IST, as this session prints it, reads back as Israel's time, not India's.
    await c.query("set datestyle = 'SQL, DMY'")
    await c.query("set timezone = 'Asia/Kolkata'")
    await c.query("select arbiter_audit_partition('2030-03-10T12:00:00Z', 'day')")
    await c.query('reset datestyle')
    t.equal(await bound(c), "FOR VALUES FROM ('2030-03-10 00:00:00+00') TO ('2030-03-11 00:00:00+00')")
  })
  t.match(await listPartitions(db), [{ name: 'audit_log_20300310', lo: new Date('2030-03-10T00:00:00Z'), hi: new Date('2030-03-11T00:00:00Z') }])
})

/**
 * `arbiter audit archive`: the partitions filed before a date leave the database only as a
 * verified archive; what remains exports and verifies from the checkpoint it now starts at; the
 * archive and the rest join with no gap; and nobody can cut a log's start and pass it off as
 * archived, or slip a record into a month while it is being archived.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import pino from 'pino'
import t, { type Test } from 'tap'
import type { AuditEntry } from '../../src/audit/chain.js'
import { signCheckpoint } from '../../src/audit/checkpoint.js'
import { loadCheckpointKey, publicKeyPem } from '../../src/audit/checkpoint-key.js'
import { loadHmacKey } from '../../src/audit/hmac-key.js'
import { witnessLine } from '../../src/audit/witness.js'
import { auditCommand, type AuditIo } from '../../src/cli/audit.js'
import { loadConfig } from '../../src/config.js'
import { planArchive, removeArchived } from '../../src/ledger/archive.js'
import { AuditWriter } from '../../src/ledger/writer.js'
import { insertCheckpoint, listCheckpoints } from '../../src/store/checkpoints.js'
import type { Database } from '../../src/store/db.js'
import { migrate } from '../../src/store/migrate.js'
import { openDatabase } from '../../src/store/open.js'
import { ensurePartitions, listPartitions, periodStart } from '../../src/store/partitions.js'
import { dataDir, isolatedDatabaseUrl, tempDir } from '../helpers.js'

const later = (): number => performance.now() + 20_000

type Io = AuditIo & { lines: string[], errors: string[] }
function capture (): Io {
  const io: Io = { lines: [], errors: [], out: (l) => io.lines.push(l), err: (l) => io.errors.push(l) }
  return io
}

const readLines = (file: string): Array<Record<string, any>> => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l))

interface World {
  dir: string
  env: Record<string, string>
  /** The checkpoint public key and the HMAC key, as files an auditor is given. */
  proof: string[]
  open: () => Promise<Database>
  run: (args: string[], env?: Record<string, string>) => Promise<{ code: number, io: Io }>
  /** Appends records of `tenant` at these times; returns their seqs. */
  append: (db: Database, tenant: string, times: string[]) => Promise<number[]>
}

/** Keys and a database (a schema on the server, or the embedded one in DATA_DIR) as `arbiter serve` leaves them. */
async function world (t: Test): Promise<World> {
  const url = await isolatedDatabaseUrl(t)
  const dir = url === undefined ? await dataDir(t) : tempDir(t)
  const env: Record<string, string> = { DATA_DIR: dir, ...(url === undefined ? {} : { DATABASE_URL: url }) }
  const key = await loadHmacKey({ dataDir: dir })
  const checkpointKey = await loadCheckpointKey({ dataDir: dir })
  const pem = path.join(dir, 'checkpoint.pem')
  writeFileSync(pem, publicKeyPem(checkpointKey))
  let n = 0
  return {
    dir,
    env,
    proof: ['--public-key', pem, '--hmac-key', key.path],
    open: async () => await openDatabase(loadConfig(env), pino({ level: 'silent' })),
    run: async (args, extra = {}) => {
      const io = capture()
      return { code: await auditCommand(args, io, { ...env, ...extra }), io }
    },
    append: async (db, tenant, times) => {
      const writer = new AuditWriter(db, key)
      const seqs: number[] = []
      for (const at of times) {
        const e: AuditEntry = { type: 'job.event', tenant_id: tenant, trace_id: `t-${++n}`, job_id: `j-${n}`, at, actor: null, body: { status: 'RUNNING', n } }
        seqs.push((await writer.append(e, later())).seq)
      }
      return seqs
    }
  }
}

t.test('archive, drop, export and verify the rest, and join the two', async (t) => {
  const w = await world(t)
  let db = await w.open()
  await migrate(db)
  await ensurePartitions(db, new Date('2025-01-05T00:00:00Z'), 'month')
  await w.append(db, 'acme', ['2025-01-10T00:00:00Z', '2025-01-20T00:00:00Z', '2025-02-03T00:00:00Z', '2025-02-27T23:59:59.999Z', '2025-03-01T00:00:00Z', '2025-03-02T00:00:00Z'])
  await w.append(db, 'beta', ['2025-02-14T00:00:00Z', '2025-03-15T00:00:00Z'])
  await w.append(db, 'quiet', ['2025-01-02T00:00:00Z'])
  // A checkpoint inside what leaves, as the server signs them.
  const [third] = (await db.query<{ hash: string }>("select hash from audit_log where tenant_id = 'acme' and seq = 3")).rows
  const key = await loadCheckpointKey({ dataDir: w.dir })
  await insertCheckpoint(db, signCheckpoint(key, { tenantId: 'acme', seq: 3, hash: third.hash, at: '2025-02-03T00:00:01.000Z' }))
  await db.close()

  const a1 = path.join(w.dir, 'a1.jsonl')
  const archived = await w.run(['archive', '--before', '2025-03-01', '--out', a1])
  t.equal(archived.code, 0, archived.io.errors.join('\n'))
  t.match(archived.io.lines, [/^audit archive: 6 records of 3 logs filed before 2025-03-01T00:00:00\.000Z written to .*a1\.jsonl and verified; dropped audit_log_20250101, audit_log_20250201$/])
  const lines = readLines(a1)
  t.match(lines[0], { kind: 'export', archive: { before: '2025-03-01T00:00:00.000Z' }, filter: { until: '2025-03-01T00:00:00.000Z' } })
  t.same(lines.filter((l) => l.kind === 'record').map((l) => `${l.tenant_id as string}:${l.seq as number}`), ['acme:1', 'acme:2', 'acme:3', 'acme:4', 'beta:1', 'quiet:1'])
  t.same(lines.filter((l) => l.kind === 'checkpoint').map((l) => `${l.tenant_id as string}:${l.seq as number}`), ['acme:3', 'acme:4', 'beta:1', 'quiet:1'], 'every log ends on a checkpoint, signed for the archive where none stood')

  db = await w.open()
  t.same((await listPartitions(db)).map((p) => p.name).slice(0, 1), ['audit_log_20250301'], 'the two months are gone')
  t.same((await db.query('select tenant_id, seq::int as seq from audit_archives order by tenant_id')).rows, [{ tenant_id: 'acme', seq: 4 }, { tenant_id: 'beta', seq: 1 }, { tenant_id: 'quiet', seq: 1 }])
  t.same((await db.query('select tenant_id, seq::int as seq from audit_log order by tenant_id, seq')).rows, [{ tenant_id: 'acme', seq: 5 }, { tenant_id: 'acme', seq: 6 }, { tenant_id: 'beta', seq: 2 }])
  await db.close()

  // What remains exports and verifies on its own, anchored at the checkpoint each log starts from.
  const live1 = path.join(w.dir, 'live1.jsonl')
  const exported = await w.run(['export', '--out', live1])
  t.equal(exported.code, 0, exported.io.errors.join('\n'))
  t.match(readLines(live1).slice(1, 3), [{ kind: 'checkpoint', tenant_id: 'acme', seq: 4 }, { kind: 'record', tenant_id: 'acme', seq: 5 }])
  t.match(await w.run(['verify', live1, ...w.proof]), { code: 0, io: { lines: [/^audit verify: checked 3 records, 3 checkpoints: OK/] } })
  t.match(await w.run(['verify', a1, ...w.proof]), { code: 0 })
  t.match(await w.run(['verify', a1, live1, ...w.proof]), { code: 0, io: { lines: [/a1\.jsonl: audit verify: checked 6 records/, /live1\.jsonl: audit verify: checked 3 records/, 'audit verify: the 2 files join: every log continues from where the file before it ends; the first holds every log from its first record'] } })
  t.match(await w.run(['verify', live1, a1, ...w.proof]), { code: 1, io: { lines: [/./, /./, /^audit verify: FAILING: the files do not join: log acme: .*a1\.jsonl continues from seq 0, but .*live1\.jsonl ends at seq 6: the two overlap \(3 in all\)$/] } })
  // With a witness of checkpoints on both sides of the cut: the archive stops at the cut by
  // design, and a log wholly archived ends where its statement says; neither is a rollback.
  db = await w.open()
  const witnessed = [...await listCheckpoints(db, 'acme'), ...await listCheckpoints(db, 'quiet')]
  const [sixth] = (await db.query<{ hash: string }>("select hash from audit_log where tenant_id = 'acme' and seq = 6")).rows
  const live = signCheckpoint(key, { tenantId: 'acme', seq: 6, hash: sixth.hash, at: new Date().toISOString() })
  await insertCheckpoint(db, live)
  await db.close()
  const witness = path.join(w.dir, 'witness.jsonl')
  writeFileSync(witness, [...witnessed, live].map((c) => witnessLine(c) + '\n').join(''))
  t.match(await w.run(['verify', a1, live1, ...w.proof, '--witness', witness]), { code: 0, io: { errors: [] } })
  t.match(await w.run(['export', '--out', path.join(w.dir, 'witnessed.jsonl'), '--witness', witness]), { code: 0, io: { lines: [/./, /^audit export: the log agrees with 4 witnessed checkpoints$/] } })
  t.match(await w.run(['archive', '--before', '2025-03-01', '--out', path.join(w.dir, 'again.jsonl')]), { code: 0, io: { lines: [/nothing to archive/] } })
  t.match(await w.run(['archive', '--before', '2025-03-01', '--out', a1]), { code: 0 }, 'nothing to archive: the file is not touched')
  t.match(await w.run(['archive', '--before', '2999-01-01', '--out', path.join(w.dir, 'x.jsonl')]), { code: 1, io: { errors: [/refused: 2999-01-01T00:00:00\.000Z is in the future/] } })
  t.match(await w.run(['archive', '--out', path.join(w.dir, 'x.jsonl')]), { code: 2, io: { errors: [/--before DATE is required, unless AUDIT_RETENTION_MONTHS is set/] } })

  // A second archive, by the retention setting, into a directory, keeping the partition detached.
  db = await w.open()
  await ensurePartitions(db, new Date('2025-04-01T00:00:00Z'), 'month')
  await w.append(db, 'acme', ['2025-04-02T00:00:00Z'])
  await db.close()
  const now = new Date()
  const months = (now.getUTCFullYear() - 2025) * 12 + now.getUTCMonth() - 3
  t.same(periodStart(now, 'month', -months), new Date('2025-04-01T00:00:00Z'))
  const second = await w.run(['archive', '--out', w.dir, '--keep'], { AUDIT_RETENTION_MONTHS: String(months) })
  t.equal(second.code, 0, second.io.errors.join('\n'))
  const a2 = path.join(w.dir, 'arbiter-audit-archive-before-2025-04-01.jsonl')
  t.match(second.io.lines, [/^audit archive: 3 records of 2 logs filed before 2025-04-01T00:00:00\.000Z written to .*arbiter-audit-archive-before-2025-04-01\.jsonl and verified; detached and kept archived_audit_log_20250301$/])
  t.match(readLines(a2).filter((l) => l.tenant_id === 'quiet'), [{ kind: 'checkpoint', seq: 1 }], 'a log with nothing new is carried as where it stands')
  t.match(await w.run(['archive', '--before', '2025-04-01', '--out', a2]), { code: 0, io: { lines: [/nothing to archive/] } })
  db = await w.open()
  t.same((await db.query('select count(*)::int as n from archived_audit_log_20250301')).rows, [{ n: 3 }], '--keep leaves the rows in a table of their own')
  await db.close()

  const live2 = path.join(w.dir, 'live2.jsonl')
  t.match(await w.run(['export', '--out', live2]), { code: 0 })
  t.match(await w.run(['verify', a1, a2, live2, ...w.proof]), { code: 0, io: { lines: [/./, /./, /./, 'audit verify: the 3 files join: every log continues from where the file before it ends; the first holds every log from its first record'] } })
  const gap = await w.run(['verify', a1, live2, ...w.proof])
  t.equal(gap.code, 1)
  t.match(gap.io.errors, [/^log acme: .*live2\.jsonl continues from seq 6, but .*a1\.jsonl ends at seq 4: seqs 5 to 6 are in neither$/, /^log beta: /])
  t.match(await w.run(['archive', '--before', '2025-05-01', '--out', a2]), { code: 2, io: { errors: [/a2|arbiter-audit-archive-before-2025-04-01\.jsonl exists: an archive is never written over/] } })

  // Someone with the database but not the checkpoint key cuts a log's start…
  db = await w.open()
  await db.query('alter table audit_log detach partition audit_log_20250401')
  await db.close()
  const cut = await w.run(['export', '--out', path.join(w.dir, 'cut.jsonl')])
  t.equal(cut.code, 1)
  t.match(cut.io.errors, [/^log acme seq 7: the log's head says seq 7, but the records stop at seq 6/])
  // …or forges the statement that would make it look archived.
  db = await w.open()
  await db.query(`insert into audit_archives (tenant_id, seq, head_hash, before, at, key_id, statement, signature)
    select tenant_id, seq + 1, head_hash, before, at, key_id, statement, signature from audit_archives where tenant_id = 'acme' order by seq desc limit 1`)
  await db.close()
  const forged = await w.run(['export', '--out', path.join(w.dir, 'forged.jsonl')])
  t.equal(forged.code, 1)
  t.match(forged.io.errors, [/^log acme seq 7: the archive statement's fields do not match what it signed/])
})

t.test('a record filed in an archived month while the archive is written stops the drop', async (t) => {
  const w = await world(t)
  const db = await w.open()
  t.teardown(async () => await db.close())
  await migrate(db)
  await ensurePartitions(db, new Date('2025-01-05T00:00:00Z'), 'month')
  await w.append(db, 'acme', ['2025-01-10T00:00:00Z', '2025-01-11T00:00:00Z'])
  const plan = await planArchive(db, new Date('2025-02-01T00:00:00Z'), new Date())
  t.match(plan, { cut: new Date('2025-02-01T00:00:00Z'), cuts: new Map([['acme', 2]]) })
  // The export ended acme on a checkpoint…
  const key = await loadCheckpointKey({ dataDir: w.dir })
  const { rows: [{ hash }] } = await db.query<{ hash: string }>("select hash from audit_log where tenant_id = 'acme' and seq = 2")
  await insertCheckpoint(db, signCheckpoint(key, { tenantId: 'acme', seq: 2, hash, at: new Date().toISOString() }))
  // …and between the export and the drop comes a new log's first record, with a January clock.
  await w.append(db, 'late', ['2025-01-31T23:00:00Z'])
  await t.rejects(removeArchived(db, plan as NonNullable<typeof plan>, key, { now: new Date(), keep: false }), { name: 'ArchiveRefused', message: /^log late has records up to seq 1 filed before 2025-02-01T00:00:00\.000Z, not 0 as archived: nothing was removed/ })
  t.same((await listPartitions(db)).map((p) => p.name).slice(0, 1), ['audit_log_20250101'], 'nothing was removed')
  t.same((await db.query('select count(*)::int as n from audit_archives')).rows, [{ n: 0 }])
  // Once the archive is closed, no later record is filed before its cut, whatever its clock says.
  const replan = await planArchive(db, new Date('2025-02-01T00:00:00Z'), new Date()) as NonNullable<typeof plan>
  const { rows: [{ hash: lateHash }] } = await db.query<{ hash: string }>("select hash from audit_log where tenant_id = 'late' and seq = 1")
  await insertCheckpoint(db, signCheckpoint(key, { tenantId: 'late', seq: 1, hash: lateHash, at: new Date().toISOString() }))
  t.match(await removeArchived(db, replan, key, { now: new Date(), keep: false }), { dropped: ['audit_log_20250101'] })
  await w.append(db, 'late', ['2025-01-31T23:30:00Z'])
  const { rows } = await db.query<{ partition: string }>("select tableoid::regclass::text as partition from audit_log where tenant_id = 'late'")
  t.match(rows, [{ partition: /audit_log_20250201$/ }], 'filed at the cut, in the first partition that stays')
})

t.test('archiving beside a writer: appends wait out the drop and none is lost; the embedded database refuses a second owner', async (t) => {
  const w = await world(t)
  const db = await w.open()
  await migrate(db)
  await ensurePartitions(db, new Date('2025-01-05T00:00:00Z'), 'month')
  await w.append(db, 'acme', ['2025-01-10T00:00:00Z', '2025-02-10T00:00:00Z'])
  if (db.kind === 'embedded') {
    // `arbiter serve` holds the embedded database: the CLI beside it is refused, not let in.
    await t.rejects(w.run(['archive', '--before', '2025-02-01', '--out', path.join(w.dir, 'a.jsonl')]), { name: 'DataDirLocked', message: /is in use by process/ })
    t.same((await listPartitions(db)).map((p) => p.name).slice(0, 1), ['audit_log_20250101'], 'and nothing was removed')
    await db.close()
    return
  }
  const running = { stop: false }
  const appended: number[] = []
  const appending = (async () => {
    while (!running.stop) appended.push(...await w.append(db, 'busy', [new Date().toISOString()]))
  })()
  await new Promise((resolve) => setTimeout(resolve, 100))
  const archived = await w.run(['archive', '--before', '2025-02-01', '--out', path.join(w.dir, 'a.jsonl')])
  await new Promise((resolve) => setTimeout(resolve, 100))
  running.stop = true
  await appending
  t.equal(archived.code, 0, archived.io.errors.join('\n'))
  t.ok(appended.length > 10, `appends went on (${appended.length})`)
  t.same(appended, appended.map((_, i) => i + 1), 'every append answered, in order')
  await db.close()
  t.match(await w.run(['export', '--out', path.join(w.dir, 'live.jsonl')]), { code: 0 })
  t.match(await w.run(['verify', path.join(w.dir, 'a.jsonl'), path.join(w.dir, 'live.jsonl'), ...w.proof]), { code: 0, io: { lines: [/./, /checked \d+ records/, /the 2 files join: every log continues from where the file before it ends; the first holds every log from its first record$/] } })
  const live = readLines(path.join(w.dir, 'live.jsonl')).filter((l) => l.kind === 'record' && l.tenant_id === 'busy')
  t.equal(live.length, appended.length, 'every answered record is in the log')
})

t.test('rows written around Arbiter in an archived month stop the drop, and the file is set aside', async (t) => {
  const w = await world(t)
  let db = await w.open()
  await migrate(db)
  await ensurePartitions(db, new Date('2025-01-05T00:00:00Z'), 'month')
  await w.append(db, 'acme', ['2025-01-10T00:00:00Z'])
  // A log with no head row: nothing Arbiter wrote, so the plan does not know it.
  await db.query(`insert into audit_log (tenant_id, seq, record_type, at, trace_id, record, key_id, signature, prev_hash, hash, filed_at)
    values ('rogue', 1, 'job.event', '2025-01-11', 't', '{}', 'k', 's', 'p', 'h', '2025-01-11')`)
  await db.close()
  const out = path.join(w.dir, 'a.jsonl')
  const refused = await w.run(['archive', '--before', '2025-02-01', '--out', out])
  t.equal(refused.code, 1)
  t.match(refused.io.errors, [/^audit archive: refused: log rogue has records up to seq 1 filed before 2025-02-01T00:00:00\.000Z, not 0 as archived: nothing was removed/])
  t.notOk(existsSync(out), 'no archive file where a retry will write one')
  t.ok(existsSync(`${out}.unfinished`), 'the unfinished file set aside')
  db = await w.open()
  t.same((await listPartitions(db)).map((p) => p.name).slice(0, 1), ['audit_log_20250101'], 'nothing was removed')
  t.same((await db.query('select count(*)::int as n from audit_log')).rows, [{ n: 2 }])
  await db.close()
})

t.test('a long read holding the log: the drop waits in short turns, appends go on, and it gives up removing nothing', { skip: process.env.DATABASE_URL === undefined || process.env.DATABASE_URL === '' ? 'the embedded database has one connection' : false }, async (t) => {
  const w = await world(t)
  const db = await w.open()
  t.teardown(async () => await db.close())
  await migrate(db)
  await ensurePartitions(db, new Date('2025-01-05T00:00:00Z'), 'month')
  await w.append(db, 'acme', ['2025-01-10T00:00:00Z'])
  const { rows: [{ hash }] } = await db.query<{ hash: string }>("select hash from audit_log where tenant_id = 'acme' and seq = 1")
  const key = await loadCheckpointKey({ dataDir: w.dir })
  await insertCheckpoint(db, signCheckpoint(key, { tenantId: 'acme', seq: 1, hash, at: new Date().toISOString() }))
  const plan = await planArchive(db, new Date('2025-02-01T00:00:00Z'), new Date()) as NonNullable<Awaited<ReturnType<typeof planArchive>>>
  // An export, say: a transaction that has read the log and is still open.
  let release = (): void => {}
  let reading = (): void => {}
  const readYet = new Promise<void>((resolve) => { reading = resolve })
  const reader = db.transaction(async (tx) => {
    await tx.query('select count(*) from audit_log')
    reading()
    await new Promise<void>((resolve) => { release = resolve })
  })
  await readYet
  const removing = removeArchived(db, plan, key, { now: new Date(), keep: false, lockTimeoutMs: 50, attempts: 4, pauseMs: 100 })
  // Between the attempts, appends are answered.
  t.match(await w.append(db, 'acme', [new Date().toISOString()]), [2], 'an append while the archive waits')
  await t.rejects(removing, { name: 'ArchiveRefused', message: /^could not lock the log for 50 ms in 4 attempts .*nothing was removed/ })
  release()
  await reader
  t.same((await listPartitions(db)).map((p) => p.name).slice(0, 1), ['audit_log_20250101'], 'nothing was removed')
  t.match(await removeArchived(db, plan, key, { now: new Date(), keep: false }), { dropped: ['audit_log_20250101'] }, 'once the read is over, it goes')
})

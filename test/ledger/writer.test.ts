import { performance } from 'node:perf_hooks'
import t, { type Test } from 'tap'
import { ChainVerifier, type AuditEntry } from '../../src/audit/chain.js'
import { MAX_SHARED } from '../../src/ledger/grouping.js'
import { AuditWriter, type LogWork, type WriterOptions } from '../../src/ledger/writer.js'
import { lockTransactions } from '../../src/store/log-append.js'
import { countRecords, readLog } from '../../src/store/log-read.js'
import type { Database, Queryable } from '../../src/store/db.js'
import { migrate } from '../../src/store/migrate.js'
import { ON_POSTGRES, testApp, testDatabase } from '../helpers.js'

const key = { id: 'hk_test', secret: Buffer.alloc(32, 3) }
const keys = new Map([[key.id, key.secret]])
const later = (): number => performance.now() + 20000

function entry (tenant: string, i: number, body: Record<string, unknown> = {}): AuditEntry {
  return { type: 'job.event', tenant_id: tenant, trace_id: `t${i}`, job_id: `j${i}`, at: new Date(i).toISOString(), actor: null, body: { status: 'RUNNING', i, ...body } }
}

async function verifyLog (db: Database, tenant: string, hmacKeys: ReadonlyMap<string, Buffer> = keys): Promise<{ seq: number, problem: string } | null | number> {
  const v = new ChainVerifier(tenant, undefined, hmacKeys)
  for (const r of await readLog(db, tenant, 1, Number.MAX_SAFE_INTEGER, 1_000_000)) {
    const p = v.next(r)
    if (p !== null) return p
  }
  return v.checked
}

/** A migrated database with a table `side` for works to change, and a writer on it. */
async function withSide (t: Test): Promise<{ db: Database, writer: AuditWriter }> {
  const { db } = await testDatabase(t)
  await migrate(db)
  await db.exec('create table side (n int)')
  return { db, writer: new AuditWriter(db, key) }
}

/** Holds a lock in a transaction of `db` (taken by `take`) until the returned function is called; it resolves once that transaction has ended. */
async function holdLock (db: Database, take: (tx: Queryable) => Promise<unknown>): Promise<() => Promise<void>> {
  let release!: () => void
  const released = new Promise<void>((resolve) => { release = resolve })
  let locked!: () => void
  const lockHeld = new Promise<void>((resolve) => { locked = resolve })
  const holding = db.transaction(async (tx) => {
    await take(tx)
    locked()
    await released
  })
  await lockHeld
  return async () => {
    release()
    await holding
  }
}

const headOf = (tenant: string) => async (tx: Queryable): Promise<unknown> => await tx.query('select 1 from audit_heads where tenant_id = $1 for update', [tenant])

/**
 * A migrated database and a writer that has appended one record to 'acme' (so it knows the head);
 * `use` hands the writer another database (one with faults) from then on.
 */
async function seeded (t: Test, options?: WriterOptions): Promise<{ db: Database, open: () => Promise<Database>, writer: AuditWriter, use: (db: Database) => void }> {
  const { db, open } = await testDatabase(t)
  await migrate(db)
  let current = db
  const writer = new AuditWriter(new Proxy(db, { get: (_, name) => Reflect.get(current, name) }), key, options)
  await writer.append(entry('acme', 0), later())
  return { db, open, writer, use: (next) => { current = next } }
}

type AppendHandler = (run: (on?: Queryable) => Promise<{ rows: unknown[] }>, tell: (pid: number | undefined) => void) => Promise<{ rows: unknown[] }>

/**
 * `db`, whose sessions hand each group statement (`arbiter_append`) to `handle`: it may delay
 * it, run it (on the session's connection or another), lose its answer, and `tell` the writer
 * another server process id than the connection's.
 */
function interceptAppend (db: Database, handle: AppendHandler): Database {
  return {
    ...db,
    session: async (fn) => await db.session(async (c) => {
      let told: { pid: number | undefined } | undefined
      return await fn({
        exec: c.exec,
        get pid () { return told === undefined ? c.pid : told.pid },
        query: async <R>(text: string, params?: unknown[], name?: string) => {
          if (!/arbiter_append/.test(text)) return await c.query<R>(text, params, name)
          return await handle(async (on = c) => await on.query(text, params, name), (pid) => { told = { pid } }) as { rows: R[] }
        }
      })
    })
  }
}

const lost = (): Error => new Error('Connection terminated unexpectedly')

t.test('many concurrent writers, two instances, several tenants: gapless chains that verify', async (t) => {
  const { db, open } = await testDatabase(t)
  await migrate(db)
  const other = await open()
  const writers = [new AuditWriter(db, key), new AuditWriter(other, key)]
  const tenants = ['acme', 'globex', 'initech']
  const n = 3000
  const results = await Promise.all(Array.from({ length: n }, async (_, i) =>
    await writers[i % 2].append(entry(tenants[i % 3], i), later())))
  t.equal(results.length, n)
  for (const tenant of tenants) {
    const seqs = results.filter((r) => r.entry.tenant_id === tenant).map((r) => r.seq).sort((a, b) => a - b)
    t.same(seqs, Array.from({ length: n / 3 }, (_, i) => i + 1), `${tenant}: seq 1..${n / 3}, no gaps, no forks`)
    t.equal(await verifyLog(db, tenant), n / 3, `${tenant}: the chain verifies`)
  }
  const groups = writers[0].stats.groups + writers[1].stats.groups
  t.ok(groups < n, `${n} records in ${groups} groups`)
})

t.test('a failing group fails every record in it and commits none; the chain stays whole', async (t) => {
  const { db } = await testDatabase(t)
  await migrate(db)
  const writer = new AuditWriter(db, key)
  const ok = await writer.append(entry('acme', 1), later())
  // A decision naming a policy snapshot that does not exist violates a foreign key: the group fails.
  const group = await Promise.allSettled([
    writer.append(entry('acme', 2), later()),
    writer.append({ ...entry('acme', 3), type: 'decision', body: { decision_id: '00000000-0000-4000-8000-000000000003', policy_snapshot: 'sha256:missing' } }, later()),
    writer.append(entry('acme', 4), later())
  ])
  t.same(group.map((r) => r.status), ['rejected', 'rejected', 'rejected'])
  t.match((group[0] as PromiseRejectedResult).reason, { code: 'ARBITER_ERR_RECORD_UNAVAILABLE' })
  const after = await writer.append(entry('acme', 5), later())
  t.equal(ok.seq, 1)
  t.equal(after.seq, 2, 'no gap from the rolled-back group')
  t.equal(await countRecords(db), 2)
  t.equal(await verifyLog(db, 'acme'), 2)
})

t.test('pipelined groups: one failing under another in flight leaves a whole chain', async (t) => {
  const { db } = await testDatabase(t)
  await migrate(db)
  // One record per group, so several groups are sealed onto heads that are not committed yet.
  const writer = new AuditWriter(db, key, { maxBatch: 1 })
  await writer.append(entry('acme', 0), later())
  const bad = { ...entry('acme', 3), type: 'decision' as const, body: { decision_id: '00000000-0000-4000-8000-000000000003', policy_snapshot: 'sha256:missing' } }
  const results = await Promise.allSettled([entry('acme', 1), entry('acme', 2), bad, entry('acme', 4), entry('acme', 5), bad, entry('acme', 6)]
    .map(async (e) => await writer.append(e, later())))
  t.same(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled'])
  const seqs = results.flatMap((r) => r.status === 'fulfilled' ? [r.value.seq] : []).sort((a, b) => a - b)
  t.same(seqs, [2, 3, 4, 5, 6], 'gapless after the failures')
  t.equal(await verifyLog(db, 'acme'), 6)
})

t.test('transactions commit alone, with their own changes, and only if their work passes under the lock', async (t) => {
  const { db, writer } = await withSide(t)
  let runs = 0
  const once: LogWork<number> = async (tx) => {
    runs++
    const { rows } = await tx.query("select 1 from audit_log where job_id = 'final'")
    await tx.query('insert into side values (1)')
    if (rows.length > 0) throw new Error('already final')
    return { entries: [{ ...entry('acme', 9), job_id: 'final' }, { ...entry('acme', 10), job_id: 'final' }], result: runs }
  }
  const results = await Promise.allSettled([
    ...Array.from({ length: 5 }, async () => await writer.transact('acme', later(), once)),
    writer.append(entry('acme', 11), later())
  ])
  const done = results.slice(0, 5).filter((r) => r.status === 'fulfilled')
  t.equal(done.length, 1, 'exactly one passes')
  const { records, result } = (done[0] as PromiseFulfilledResult<{ records: Array<{ seq: number }>, result: number }>).value
  t.equal(records.length, 2, 'both of its records')
  t.equal(records[1].seq, records[0].seq + 1, 'one after the other')
  t.ok(result >= 1, 'with its result')
  t.match(results.slice(0, 5).filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.message), Array(4).fill('already final'))
  t.equal(results[5].status, 'fulfilled', 'plain appends go on around them')
  t.equal(runs, 5)
  const { rows } = await db.query<{ n: number }>('select count(*)::int as n from side')
  t.equal(rows[0].n, 1, 'the refused transactions changed nothing')
  t.equal(await verifyLog(db, 'acme'), 3)
  const empty = await writer.transact('acme', later(), async (tx) => {
    await tx.query('insert into side values (2)')
    return { entries: [], result: 'nothing to log' }
  })
  t.same(empty, { records: [], result: 'nothing to log' })
  t.equal((await db.query<{ n: number }>('select count(*)::int as n from side')).rows[0].n, 2, 'a transaction with no records still commits')
  await t.rejects(writer.transact('acme', later(), async () => ({ entries: [entry('globex', 1)], result: 0 })), /another log/)
  t.equal(await verifyLog(db, 'acme'), 3)
})

t.test('a transaction leads a group: refused, it alone is undone; committed, its records come first', async (t) => {
  const { db, writer } = await withSide(t)
  // Made in one tick: they join one group, the transaction first.
  const [refused, a, b] = await Promise.allSettled([
    writer.transact('acme', later(), async (tx) => {
      await tx.query('insert into side values (1)')
      throw new Error('refused')
    }),
    writer.append(entry('acme', 1), later()),
    writer.append(entry('acme', 2), later())
  ])
  t.match(refused, { status: 'rejected', reason: { message: 'refused' } })
  t.same([a.status, b.status], ['fulfilled', 'fulfilled'], 'the appends in its group commit')
  t.equal(writer.stats.groups, 1)
  t.equal((await db.query<{ n: number }>('select count(*)::int as n from side')).rows[0].n, 0, 'the refused work changed nothing')

  const [done, c] = await Promise.all([
    writer.transact('acme', later(), async (tx) => {
      await tx.query('insert into side values (2)')
      return { entries: [entry('acme', 3)], result: 'ok' }
    }),
    writer.append(entry('acme', 4), later()),
    writer.transact('acme', later(), async () => ({ entries: [entry('acme', 5)], result: 'second' }))
  ])
  t.same([done.records[0].seq, c.seq], [3, 4], 'the transaction\'s record, then the appends')
  t.equal(writer.stats.groups, 3, 'a second transaction starts a group of its own')
  t.equal(await verifyLog(db, 'acme'), 5)
})

t.test('transactions that read no log records share a group, each seeing the changes before it', async (t) => {
  const { db, writer } = await withSide(t)
  const sharing = { refuses: false, readsLog: false }
  const adds = (n: number): LogWork<number> => async (tx) => {
    const { rows } = await tx.query<{ seen: number }>('select count(*)::int as seen from side')
    await tx.query('insert into side values ($1)', [n])
    return { entries: [entry('acme', n)], result: rows[0].seen }
  }
  // Made in one tick: the two that share go in one group, and the append between them in one of
  // its own, which need not wait for the lock; the one that may read the log waits for a group
  // of its own.
  const [first, between, second, reading] = await Promise.all([
    writer.transact('acme', later(), adds(1), sharing),
    writer.append(entry('acme', 2), later()),
    writer.transact('acme', later(), adds(3), sharing),
    writer.transact('acme', later(), adds(4), { refuses: false })
  ])
  t.equal(writer.stats.groups, 3, 'one group for the two that share, one for the append, one for the other')
  t.same([first.result, second.result, reading.result], [0, 1, 2], 'each saw what the ones before it changed')
  t.equal(second.records[0].seq, first.records[0].seq + 1, 'the records of the two that share, one after the other')
  t.same([first.records[0].seq, between.seq, second.records[0].seq, reading.records[0].seq].sort(), [1, 2, 3, 4])
  t.equal(reading.records[0].seq, 4, 'the one that may read the log after them')
  t.equal(await verifyLog(db, 'acme'), 4)

  // Past MAX_SHARED, a second group.
  const before = writer.stats.groups
  await Promise.all(Array.from({ length: MAX_SHARED + 1 }, async (_, i) => await writer.transact('acme', later(), adds(10 + i), sharing)))
  t.equal(writer.stats.groups - before, 2, `at most ${MAX_SHARED} in a group`)
  t.equal(await verifyLog(db, 'acme'), 4 + MAX_SHARED + 1)
})

t.test('a shared group: a refused work is undone alone; one that never refuses and throws fails alone, the others go again', async (t) => {
  const { db, writer } = await withSide(t)
  const runs = new Map<number, number>()
  const adds = (n: number, fails = false): LogWork<number> => async (tx) => {
    runs.set(n, (runs.get(n) ?? 0) + 1)
    await tx.query('insert into side values ($1)', [n])
    if (fails) await tx.query('select 1 / 0')
    return { entries: [entry('acme', n)], result: n }
  }
  const refusable = { readsLog: false }
  const total = { refuses: false, readsLog: false }
  const [a, refused, b] = await Promise.allSettled([
    writer.transact('acme', later(), adds(1), refusable),
    writer.transact('acme', later(), adds(2, true), refusable),
    writer.transact('acme', later(), adds(3), refusable)
  ])
  t.same([a.status, b.status], ['fulfilled', 'fulfilled'])
  t.match(refused, { status: 'rejected', reason: { message: /division by zero/ } }, 'refused with its own error')
  t.equal(writer.stats.groups, 1, 'in one group')
  t.same((await db.query<{ n: number }>('select n from side order by n')).rows.map((r) => r.n), [1, 3], 'the refused work changed nothing')

  const [c, failed, appended, d] = await Promise.allSettled([
    writer.transact('acme', later(), adds(4), total),
    writer.transact('acme', later(), adds(5, true), total),
    writer.append(entry('acme', 6), later()),
    writer.transact('acme', later(), adds(7), total)
  ])
  t.match(failed, { status: 'rejected', reason: { code: 'ARBITER_ERR_RECORD_UNAVAILABLE' } }, 'the one that threw fails')
  t.same([c.status, appended.status, d.status], ['fulfilled', 'fulfilled', 'fulfilled'], 'the rest of its group went again and committed')
  t.equal(runs.get(4), 2, 'a work before it ran again')
  t.equal(runs.get(7), 1, 'one after it ran once, in the group that committed')
  t.equal(runs.get(5), 1, 'the one that threw was not run again')
  t.same((await db.query<{ n: number }>('select n from side order by n')).rows.map((r) => r.n), [1, 3, 4, 7], 'nothing of the failed work committed')
  t.equal(await verifyLog(db, 'acme'), 5)
})

t.test('openings: the first statements of a group\'s works go in one, before any work runs; the works they decided run first', async (t) => {
  const { db, writer } = await withSide(t)
  const calls: number[][] = []
  const batch = async (tx: Queryable, inputs: number[]): Promise<number[]> => {
    calls.push(inputs)
    const { rows } = await tx.query<{ n: number }>('insert into side select unnest($1::int[]) returning n', [inputs])
    return rows.map((r) => r.n * 10)
  }
  const ran: number[] = []
  const work = (n: number, told: () => number | undefined): LogWork<number | undefined> => async (tx) => {
    ran.push(n)
    const { rows } = await tx.query<{ seen: number }>('select count(*)::int as seen from side')
    return { entries: [entry('acme', n)], result: told() ?? -rows[0].seen }
  }
  const outputs = new Map<number, number>()
  const opened = (n: number): { batch: typeof batch, input: number, opened: (o: number) => boolean } =>
    ({ batch, input: n, opened: (o) => { outputs.set(n, o); return o > 20 } })
  const sharing = { refuses: false, readsLog: false }
  const results = await Promise.all([
    writer.transact('acme', later(), work(1, () => outputs.get(1)), { ...sharing, opening: opened(1) }),
    writer.transact('acme', later(), work(2, () => outputs.get(2)), { ...sharing, opening: opened(2) }),
    writer.transact('acme', later(), work(4, () => undefined), sharing),
    writer.transact('acme', later(), work(3, () => outputs.get(3)), { ...sharing, opening: opened(3) })
  ])
  t.same(calls, [[1, 2, 3]], 'one statement for the three openings, in order')
  t.same(results.map((r) => r.result), [10, 20, -3, 30], 'each work told its own output; the one without saw what they did')
  t.same(ran, [3, 1, 2, 4], 'the work its opening decided ran first, then the others in order')
  t.same(results.map((r) => r.records[0].seq), [2, 3, 4, 1], 'and its record comes first')
  t.equal(writer.stats.groups, 1)
  t.equal(await verifyLog(db, 'acme'), 4)

  // An opening that fails fails the works it was for; the rest of the group goes again.
  const failing = async (tx: Queryable, inputs: number[]): Promise<number[]> => {
    await tx.query('select 1 / 0')
    return inputs
  }
  const [a, b, c] = await Promise.allSettled([
    writer.transact('acme', later(), work(5, () => undefined), { ...sharing, opening: { batch: failing, input: 5, opened: () => true } }),
    writer.transact('acme', later(), work(6, () => undefined), { ...sharing, opening: { batch: failing, input: 6, opened: () => true } }),
    writer.transact('acme', later(), work(7, () => undefined), sharing)
  ])
  t.match([a, b], [{ status: 'rejected', reason: { code: 'ARBITER_ERR_RECORD_UNAVAILABLE' } }, { status: 'rejected', reason: { code: 'ARBITER_ERR_RECORD_UNAVAILABLE' } }], 'both works of the failed opening fail')
  t.match(c, { status: 'fulfilled', value: { result: -3 } }, 'the other went again and committed')
  t.same(ran.slice(4), [7], 'neither work of the failed opening ran')
  t.equal(await verifyLog(db, 'acme'), 5)
})

t.test('a full queue refuses at once instead of growing', async (t) => {
  const { db } = await testDatabase(t)
  await migrate(db)
  const writer = new AuditWriter(db, key, { maxQueue: 2, maxBatch: 1 })
  const results = await Promise.allSettled([1, 2, 3, 4].map(async (i) => await writer.append(entry('acme', i), later())))
  const refused = results.filter((r) => r.status === 'rejected')
  t.ok(refused.length >= 1, `${refused.length} refused`)
  t.match((refused[0] as PromiseRejectedResult).reason, { code: 'ARBITER_ERR_RECORD_UNAVAILABLE', message: /queue is full/ })
  t.equal(await countRecords(db), results.length - refused.length, 'everything accepted was committed')
})

t.test('concurrent checks over HTTP share groups and every answer is recorded once', async (t) => {
  // About recording, not speed: 300 checks at once on a busy machine may take longer than the
  // default budget (a 503 would be right then, and is tested elsewhere), so the budget is wide.
  const ctx = await testApp(t, { env: { CHECK_BUDGET_MS: '30000' } })
  const n = 300
  const answers = await Promise.all(Array.from({ length: n }, async (_, i) =>
    await ctx.app.inject({ method: 'POST', url: '/check', payload: { job_id: `c${i}`, topic: 'job.mcp-bridge.read.x', tenant_id: i % 2 === 0 ? 'acme' : 'globex' } })))
  t.ok(answers.every((a) => a.statusCode === 200), 'all answered 200')
  t.equal(new Set(answers.map((a) => a.json().decision_id)).size, n)
  t.equal(await countRecords(ctx.db, 'decision'), n)
  const appKeys = new Map([[ctx.deps.key.id, ctx.deps.key.secret]])
  t.equal(await verifyLog(ctx.db, 'acme', appKeys), n / 2)
  t.equal(await verifyLog(ctx.db, 'globex', appKeys), n / 2)
  const stats = ctx.app.auditWriter.stats
  // The embedded database commits in-process, faster than injected requests arrive, so only a
  // server round trip gives requests time to queue up behind a commit.
  if (ON_POSTGRES) t.ok(stats.groups < n / 4, `${n} records in ${stats.groups} groups`)
  else t.comment(`${n} records in ${stats.groups} groups`)
})

t.test('a caller answered while its group is under way rolls the group back; the others go again', async (t) => {
  const { db } = await testDatabase(t)
  await migrate(db)
  // The first append statement of the log is held long enough for one caller's deadline to pass.
  let held = false
  const slow: Database = {
    ...db,
    transaction: async (fn, options) => await db.transaction(async (tx) => await fn({
      ...tx,
      query: async (text, params, name) => {
        if (!held && /arbiter_file_group/.test(text)) {
          held = true
          await new Promise((resolve) => setTimeout(resolve, 300))
        }
        return await tx.query(text, params, name)
      }
    }), options)
  }
  const writer = new AuditWriter(slow, key)
  const [short, long1, long2] = await Promise.allSettled([
    writer.append(entry('acme', 1), performance.now() + 100),
    writer.append(entry('acme', 2), later()),
    writer.append(entry('acme', 3), later())
  ])
  t.ok(held, 'the group was held')
  t.equal(short.status, 'rejected', 'the caller whose deadline passed is answered 503')
  t.match((short as PromiseRejectedResult).reason, { code: 'ARBITER_ERR_RECORD_UNAVAILABLE' })
  t.same([long1, long2].map((r) => r.status), ['fulfilled', 'fulfilled'], 'the others are written after all')
  t.same([long1, long2].map((r) => (r as PromiseFulfilledResult<{ seq: number }>).value.seq), [1, 2])
  t.equal(writer.stats.requeued, 2)
  t.equal(await countRecords(db), 2, 'only what was answered is in the log')
  t.equal(await verifyLog(db, 'acme'), 2)
})

t.test('appends do not wait for a transaction that waits for its lock', { skip: ON_POSTGRES ? false : 'the embedded database runs one transaction at a time' }, async (t) => {
  const { db, open } = await testDatabase(t)
  await migrate(db)
  const other = await open()
  const writer = new AuditWriter(db, key)
  await writer.append(entry('acme', 1), later())
  const release = await holdLock(other, async (tx) => { await lockTransactions(tx, 'acme') })
  const waiting = writer.transact('acme', later(), async () => ({ entries: [entry('acme', 2)], result: 'late' }))
  await new Promise((resolve) => setTimeout(resolve, 50))
  const appended = await writer.append(entry('acme', 3), later())
  t.equal(appended.seq, 2, 'the append went on while the transaction waited')
  await release()
  t.equal((await waiting).records[0].seq, 3)
  t.equal(await verifyLog(db, 'acme'), 3)
})

t.test('a group sealed ahead commits in one statement of its own, sent once the group before has returned', async (t) => {
  const { db, writer, use } = await seeded(t, { maxBatch: 1 })
  const events: string[] = []
  let statements = 0
  let transactions = 0
  // The first group's statement is slow to leave: the second, sealed on it, must not overtake
  // it (it would find the head behind and be sealed again).
  const slow: Database = {
    ...interceptAppend(db, async (run) => {
      const which = statements++ === 0 ? 'A' : 'B'
      if (which === 'A') await new Promise((resolve) => setTimeout(resolve, 100))
      events.push(`${which} sent`)
      const rows = await run()
      events.push(`${which} returned`)
      return rows
    }),
    transaction: async (fn, options) => {
      transactions++
      return await db.transaction(fn, options)
    }
  }
  // The same writer on the slow handle: its head is known, so both groups are sealed ahead.
  use(slow)
  const [a, b] = await Promise.all([writer.append(entry('acme', 1), later()), writer.append(entry('acme', 2), later())])
  t.same([a.seq, b.seq], [2, 3])
  t.same(events, ['A sent', 'A returned', 'B sent', 'B returned'])
  t.equal(transactions, 0, 'no transaction around either')
  t.equal(writer.stats.resealed, 0, 'neither was sealed again')
  t.equal(await verifyLog(db, 'acme'), 3)
})

t.test('a group whose statement cannot get its rows in within its budget is rolled back by the server; the others go again', { skip: ON_POSTGRES ? false : 'the embedded database has no second connection to hold the head' }, async (t) => {
  const { db, open, writer } = await seeded(t)
  const other = await open()
  // Another connection holds the head row for longer than the shortest deadline in the group.
  const release = await holdLock(other, headOf('acme'))
  const appends = Promise.allSettled([
    writer.append(entry('acme', 1), performance.now() + 100),
    writer.append(entry('acme', 2), later()),
    writer.append(entry('acme', 3), later())
  ])
  await new Promise((resolve) => setTimeout(resolve, 300))
  await release()
  const [short, long1, long2] = await appends
  t.equal(short.status, 'rejected', 'the caller whose deadline passed is answered 503')
  t.same([long1, long2].map((r) => r.status), ['fulfilled', 'fulfilled'], 'the others are written after all')
  t.same([long1, long2].map((r) => (r as PromiseFulfilledResult<{ seq: number }>).value.seq), [2, 3])
  t.equal(writer.stats.requeued, 2)
  t.equal(writer.stats.lateCommits, 0)
  t.equal(await countRecords(db), 3, 'only what was answered is in the log')
  t.equal(await verifyLog(db, 'acme'), 3)
})

t.test('a lost answer to a group\'s statement is resolved by reading the log once the server process is done', { skip: ON_POSTGRES ? false : 'the embedded database runs in this process: no answer can be lost' }, async (t) => {
  for (const committed of [true, false]) {
    const { db, writer, use } = await seeded(t)
    // The statement runs (or not) and then its answer is lost, as when the socket dies.
    use(interceptAppend(db, async (run) => {
      if (committed) await run()
      throw lost()
    }))
    const [r] = await Promise.allSettled([writer.append(entry('acme', 1), later())])
    use(db)
    if (committed) {
      t.equal(r.status, 'fulfilled', 'committed: the caller is told so')
      t.equal(writer.stats.recoveredCommits, 1)
      t.equal(await countRecords(db), 2)
    } else {
      t.equal(r.status, 'rejected', 'not committed: the caller is answered 503')
      t.equal(writer.stats.recoveredCommits, 0)
      t.equal(await countRecords(db), 1)
    }
    t.equal(writer.stats.inDoubt, 0)
    t.equal((await writer.append(entry('acme', 2), later())).seq, committed ? 3 : 2, 'the log goes on without a gap')
    t.equal(await verifyLog(db, 'acme'), committed ? 3 : 2)
  }
})

t.test('a lost answer with no server process to ask about is counted in doubt, not taken for a failure', async (t) => {
  const { db, writer, use } = await seeded(t)
  use(interceptAppend(db, async (run, tell) => {
    tell(undefined)
    await run()
    throw lost()
  }))
  const [r] = await Promise.allSettled([writer.append(entry('acme', 1), later())])
  t.equal(r.status, 'rejected', 'the caller is answered 503')
  t.equal(writer.stats.inDoubt, 1, 'and the record, which did commit, is counted in doubt')
  t.equal(await countRecords(db), 2)
})

t.test('a lost answer while the server process still waits to commit is resolved only once it is done', { skip: ON_POSTGRES ? false : 'the embedded database runs in this process: no answer can be lost' }, async (t) => {
  const { db, open, writer, use } = await seeded(t)
  const side = await open()
  const holder = await open()
  // The head is held elsewhere, so the statement waits on the server; its answer is lost at once
  // (it runs on a connection of its own, whose process the writer is told of).
  const release = await holdLock(holder, headOf('acme'))
  let statement: Promise<void> | undefined
  const losing = interceptAppend(db, async (run, tell) => {
    let sent!: (pid: number) => void
    const running = new Promise<number>((resolve) => { sent = resolve })
    statement = side.session(async (other) => {
      await other.query('select 1')
      sent(other.pid as number)
      await run(other)
    })
    tell(await running)
    await new Promise((resolve) => setTimeout(resolve, 50))
    throw lost()
  })
  use(losing)
  const appending = writer.append(entry('acme', 1), later())
  const released = new Promise((resolve) => setTimeout(resolve, 300)).then(release)
  const r = await appending
  await released
  await statement
  t.equal(r.seq, 2, 'the caller is told it committed, as it did')
  t.equal(writer.stats.recoveredCommits, 1)
  t.equal(writer.stats.inDoubt, 0)
  t.equal(await countRecords(db), 2)
  t.equal(await verifyLog(db, 'acme'), 2)
})

t.test('a head held elsewhere keeps a group\'s statement waiting no longer than its callers', { skip: ON_POSTGRES ? false : 'the embedded database has no second connection to hold the head' }, async (t) => {
  const { db, open, writer } = await seeded(t)
  const holder = await open()
  const release = await holdLock(holder, headOf('acme'))
  const results = await Promise.allSettled([1, 2].map(async (i) => await writer.append(entry('acme', i), performance.now() + 200)))
  t.same(results.map((r) => r.status), ['rejected', 'rejected'], 'both answered 503 at their deadline')
  // Still holding the head: no statement of the writer may be left waiting for it.
  let waiting = -1
  for (let i = 0; i < 50 && waiting !== 0; i++) {
    // This test's sessions share its schema's application name; only the holder is not waiting.
    const { rows } = await holder.query<{ n: number }>("select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and application_name = current_setting('application_name') and pid <> pg_backend_pid()")
    waiting = rows[0].n
    if (waiting !== 0) await new Promise((resolve) => setTimeout(resolve, 20))
  }
  t.equal(waiting, 0, 'the server gave up waiting by the deadline')
  await release()
  t.equal(await countRecords(db), 1)
  t.equal((await writer.append(entry('acme', 3), later())).seq, 2)
})

t.test('a transaction does not wait for appends sealed ahead that are not sent yet', { timeout: 30000 }, async (t) => {
  const { db, writer } = await seeded(t, { maxBatch: 1 })
  // While the transaction's work runs, appends are sealed ahead after it; on the embedded
  // database they cannot even start until it commits.
  const [a1, tx, a3, a4] = await Promise.all([
    writer.append(entry('acme', 1), later()),
    writer.transact('acme', later(), async () => {
      await new Promise((resolve) => setTimeout(resolve, 50))
      return { entries: [entry('acme', 2)], result: 'done' }
    }),
    writer.append(entry('acme', 3), later()),
    writer.append(entry('acme', 4), later())
  ])
  t.equal(tx.result, 'done')
  t.same([a1.seq, tx.records[0].seq, a3.seq, a4.seq].sort((x, y) => x - y), [2, 3, 4, 5])
  t.equal(await verifyLog(db, 'acme'), 5)
})

t.test('the one-statement append commits synchronously and bounds its wait, whatever the session says', async (t) => {
  const { db } = await testDatabase(t)
  await migrate(db)
  const empty = ['text', 'bigint', 'text', 'timestamptz', 'text', 'text', 'uuid', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text']
    .map((type) => `'{}'::${type}[]`).join(', ')
  const settings = await db.transaction(async (tx) => {
    await tx.query("set local synchronous_commit = 'off'")
    const { rows } = await tx.query<{ appended: string }>(`select arbiter_append('nobody', 1, 'x', 0, 'y', 1000, 1500, ${empty}) as appended`)
    t.equal(Number(rows[0].appended), 0, 'no head: nothing appended')
    return (await tx.query<{ sync: string, lock: string }>("select current_setting('synchronous_commit') as sync, current_setting('lock_timeout') as lock")).rows[0]
  })
  t.same(settings, { sync: 'on', lock: '1500ms' })
})

t.test('every server connection commits synchronously, set by the client whatever the server or role says', { skip: ON_POSTGRES ? false : 'the embedded database has no server settings to override' }, async (t) => {
  const { db } = await testDatabase(t)
  const { rows } = await db.session(async (c) => await c.query<{ setting: string, source: string }>("select setting, source from pg_settings where name = 'synchronous_commit'"))
  t.same(rows, [{ setting: 'on', source: 'client' }])
})

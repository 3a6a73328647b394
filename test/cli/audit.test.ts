/**
 * `arbiter audit export` and `arbiter audit verify`: clean exports verify offline, filtered ones
 * carry their proofs, and tampering with the database or with the file is caught at the first
 * bad seq.
 */
import { execFile } from 'node:child_process'
import { randomUUID, type KeyObject } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { promisify } from 'node:util'
import stableStringify from 'fast-json-stable-stringify'
import t, { type Test } from 'tap'
import { sealRecord, sha256Tagged, type AuditEntry, type HmacSigningKey, type RecordType, type SealedRecord } from '../../src/audit/chain.js'
import { signCheckpoint, type CheckpointKey } from '../../src/audit/checkpoint.js'
import { loadCheckpointKey, publicKeyPem } from '../../src/audit/checkpoint-key.js'
import { publicKeyRing, type EvidenceFilter, type Manifest } from '../../src/audit/evidence.js'
import { loadHmacKey } from '../../src/audit/hmac-key.js'
import { auditCommand, exportEvidence, resolveTime, verifyEvidence, type AuditIo } from '../../src/cli/audit.js'
import { PACKAGE_ROOT } from '../../src/paths.js'
import { AuditWriter } from '../../src/ledger/writer.js'
import { insertCheckpoint } from '../../src/store/checkpoints.js'
import { openEmbedded, type Database } from '../../src/store/db.js'
import { migrate } from '../../src/store/migrate.js'
import { dataDir, tempDir, testDatabase } from '../helpers.js'
import { childEnv, TYPESCRIPT_ARGS } from '../support/process.js'

const keyA = { id: 'hk_a', secret: Buffer.alloc(32, 1) }
const keyB = { id: 'hk_b', secret: Buffer.alloc(32, 2) }
const ring = new Map([[keyA.id, keyA.secret], [keyB.id, keyB.secret]])
const BASE = Date.parse('2025-03-01T00:00:00.000Z')
const minute = (i: number): string => new Date(BASE + i * 60_000).toISOString()
const ALL: EvidenceFilter = { since: null, until: null, trace_id: null, tenant_id: null }
const TYPES: RecordType[] = ['job.event', 'approval.requested', 'grant.used']
const later = (): number => performance.now() + 20000

function entry (tenant: string, i: number, trace?: string, at = minute(i)): AuditEntry {
  return { type: TYPES[i % 3], tenant_id: tenant, trace_id: trace ?? `t-${tenant}-${i}`, job_id: `j${i}`, at, actor: null, body: { i, note: 'n' } }
}

type Io = AuditIo & { lines: string[], errors: string[], progressed: string[] }
function capture (): Io {
  const io: Io = { lines: [], errors: [], progressed: [], out: (l) => io.lines.push(l), err: (l) => io.errors.push(l), progress: (l) => io.progressed.push(l) }
  return io
}

interface World {
  db: Database
  dir: string
  records: Map<string, SealedRecord[]>
  checkpointKey: CheckpointKey
  publicKeys: Map<string, KeyObject>
}

interface Seed { counts: Record<string, number>, traces?: Record<number, string>, checkpoints?: Record<string, number[]>, key?: HmacSigningKey }

async function world (t: Test, seed: Seed): Promise<World> {
  const { db } = await testDatabase(t)
  await migrate(db)
  const dir = tempDir(t)
  const checkpointKey = await loadCheckpointKey({ dataDir: dir })
  const w: World = { db, dir, records: new Map(), checkpointKey, publicKeys: publicKeyRing([publicKeyPem(checkpointKey)]) }
  await append(w, seed.key ?? keyA, seed.counts, seed.traces)
  for (const [tenant, seqs] of Object.entries(seed.checkpoints ?? {})) for (const seq of seqs) await checkpoint(w, tenant, seq)
  return w
}

async function append (w: World, key: HmacSigningKey, counts: Record<string, number>, traces: Record<number, string> = {}): Promise<void> {
  const writer = new AuditWriter(w.db, key)
  for (const [tenant, n] of Object.entries(counts)) {
    const had = w.records.get(tenant) ?? []
    const sealed = await Promise.all(Array.from({ length: n }, async (_, k) => {
      const i = had.length + k + 1
      return await writer.append(entry(tenant, i, traces[i]), later())
    }))
    w.records.set(tenant, [...had, ...sealed])
  }
}

async function checkpoint (w: World, tenant: string, seq: number): Promise<void> {
  const hash = (w.records.get(tenant) as SealedRecord[])[seq - 1].hash
  await insertCheckpoint(w.db, signCheckpoint(w.checkpointKey, { tenantId: tenant, seq, hash, at: new Date().toISOString() }))
}

let exports = 0
/** `hmacKeys` null: signatures are not checked. */
async function exportOf (w: World, filter = ALL, hmacKeys: ReadonlyMap<string, Buffer> | null = ring): Promise<Awaited<ReturnType<typeof exportEvidence>> & { out: string, io: Io }> {
  const io = capture()
  const out = path.join(w.dir, `evidence-${++exports}.jsonl`)
  // Small batches, so that runs and checkpoints straddle them.
  const result = await exportEvidence({ db: w.db, hmacKeys: hmacKeys ?? undefined, publicKeys: w.publicKeys, signer: w.checkpointKey, filter, out, io, batchSize: 7 })
  return { ...result, out, io }
}

async function verify (file: string, publicKeys: ReadonlyMap<string, KeyObject>, hmacKeys?: ReadonlyMap<string, Buffer>): Promise<Awaited<ReturnType<typeof verifyEvidence>> & { io: Io }> {
  const io = capture()
  return { ...await verifyEvidence({ file, publicKeys, hmacKeys, io }), io }
}

type Line = Record<string, unknown> & { kind: string, tenant_id?: string, seq?: number }
const readLines = (file: string): Line[] => readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Line)
/** A line written as it is, not as JSON. */
const raw = (text: string): Line => text as unknown as Line
const writeLines = (file: string, lines: Array<Line | string>): void => writeFileSync(file, lines.map((l) => typeof l === 'string' ? l : stableStringify(l)).join('\n') + '\n')
const at = (lines: Line[], kind: string, tenant: string, seq: number): number => lines.findIndex((l) => l.kind === kind && l.tenant_id === tenant && l.seq === seq)

/** As the log's owner: the append-only trigger refuses even the replica role, so it goes first. */
async function tamper (db: Database, sql: string, params: unknown[] = []): Promise<void> {
  await db.query('alter table audit_log disable trigger audit_log_no_update_delete')
  await db.query(sql, params)
}

t.test('a clean export holds every record with its proofs and verifies offline', async (t) => {
  const w = await world(t, { counts: { acme: 20, globex: 12 }, checkpoints: { acme: [10, 20], globex: [5] } })
  const e = await exportOf(w)
  t.match(e, { code: 0, scanned: 32, written: 32, selected: 32, checkpoints: 3, failing: 0, problems: [] })
  t.match(e.io.lines, [/^audit export: scanned 32, wrote 32, failing 0 \(32 matching the filter, 3 checkpoints\) to .*evidence-\d+\.jsonl$/])
  t.same(e.io.errors, [])
  t.ok(e.io.progressed.includes('audit export: log acme, seq 7 of 20; scanned 7'), 'progress after each batch')
  t.equal(e.io.progressed.at(-1), '', 'and the progress line cleared at the end')

  const text = readFileSync(e.out, 'utf8')
  const lines = readLines(e.out)
  t.same(text.trimEnd().split('\n'), lines.map((l) => stableStringify(l)), 'every line is stable JSON')
  t.match(lines[0], { kind: 'export', format: 'arbiter-audit-evidence/1', filter: ALL })
  t.same(lines.slice(1, -1).map((l) => `${l.kind[0]}:${String(l.tenant_id)}:${String(l.seq)}`).filter((s) => s.startsWith('c')), ['c:acme:10', 'c:acme:20', 'c:globex:5'])
  t.equal(at(lines, 'checkpoint', 'acme', 10), at(lines, 'record', 'acme', 10) + 1, 'a checkpoint follows the record at its seq')
  const stored = (w.records.get('acme') as SealedRecord[])[2]
  t.same(lines[at(lines, 'record', 'acme', 3)], {
    kind: 'record', tenant_id: 'acme', seq: 3, record: stored.canonical, key_id: 'hk_a', signature: stored.mac, prev_hash: stored.prevHash, hash: stored.hash, selected: true
  })
  const manifest = lines.at(-1) as unknown as Manifest
  t.match(manifest, {
    kind: 'manifest',
    filter: ALL,
    period: { first_at: minute(1), last_at: minute(20) },
    logs: {
      acme: { first_seq: 1, last_seq: 20, records: 20, selected: 20, checkpoints: [10, 20], types: { 'job.event': 6, 'approval.requested': 7, 'grant.used': 7 }, first_at: minute(1), last_at: minute(20) },
      globex: { first_seq: 1, last_seq: 12, records: 12, selected: 12, checkpoints: [5] }
    },
    totals: { logs: 2, records: 32, selected: 32, checkpoints: 3, types: { 'job.event': 10, 'approval.requested': 11, 'grant.used': 11 } },
    export: { scanned: 32, failing: 0, problems: [] },
    header_hash: /^sha256:[0-9a-f]{64}$/,
    signature: { key_id: w.checkpointKey.id, value: /^[A-Za-z0-9+/]{86}==$/ }
  })

  const withPublicKey = await verify(e.out, w.publicKeys)
  t.match(withPublicKey, { code: 2, records: 32, checkpoints: 3, failing: 0, uncovered: 7 }, 'the tail after the last checkpoint is not proven by the public key alone')
  t.match(withPublicKey.io.lines, [/^audit verify: checked 32 records, 3 checkpoints: NOT PROVEN: 7 records after their log's last checkpoint/])
  const withHmac = await verify(e.out, w.publicKeys, new Map([[keyA.id, keyA.secret]]))
  t.match(withHmac, { code: 0, uncovered: 0 })
  t.same(withHmac.io.lines, ['audit verify: checked 32 records, 3 checkpoints: OK (without --witness, a rollback of a whole log to an earlier checkpoint is not ruled out)'])
})

t.test('a filtered export: a run from the first match to the checkpoint after the last', async (t) => {
  const w = await world(t, { counts: { acme: 30, globex: 5 }, traces: { 7: 'tr-x', 12: 'tr-x' }, checkpoints: { acme: [10, 20, 30] } })
  const byTrace = await exportOf(w, { ...ALL, trace_id: 'tr-x' })
  t.match(byTrace, { code: 0, scanned: 35, written: 14, selected: 2, checkpoints: 2 })
  const lines = readLines(byTrace.out)
  const records = lines.filter((l) => l.kind === 'record')
  t.same(records.map((l) => l.seq), Array.from({ length: 14 }, (_, i) => i + 7), 'seq 7 to the checkpoint at 20, gapless')
  t.same(records.filter((l) => l.selected === true).map((l) => l.seq), [7, 12])
  t.match(lines.at(-1), { logs: { acme: { first_seq: 7, last_seq: 20, selected: 2, checkpoints: [10, 20] } }, period: { first_at: minute(7), last_at: minute(12) } })
  t.notOk('globex' in (lines.at(-1) as unknown as Manifest).logs, 'a log with no match is checked, not exported')
  t.match(await verify(byTrace.out, w.publicKeys), { code: 0, records: 14, checkpoints: 2, uncovered: 0 }, 'every record is vouched for by a checkpoint')

  const byTime = await exportOf(w, { ...ALL, since: minute(15), until: minute(25) })
  t.match(byTime, { code: 0, written: 16, selected: 10 })
  t.match(readLines(byTime.out).at(-1), { logs: { acme: { first_seq: 15, last_seq: 30, selected: 10, first_at: minute(15), last_at: minute(24), checkpoints: [20, 30] } } })
  t.match(await verify(byTime.out, w.publicKeys), { code: 0 })

  const byTenant = await exportOf(w, { ...ALL, tenant_id: 'globex', until: minute(3) })
  t.match(byTenant, { code: 0, scanned: 5, written: 2, selected: 2, checkpoints: 0 })
  t.match(await verify(byTenant.out, w.publicKeys), { code: 2, uncovered: 2 }, 'no checkpoint covers them yet: not proven')
  t.match(await verify(byTenant.out, w.publicKeys, ring), { code: 0, uncovered: 0 })

  const none = await exportOf(w, { ...ALL, trace_id: 'nobody' })
  t.match(none, { code: 0, scanned: 35, written: 0 })
  t.match(await verify(none.out, w.publicKeys), { code: 0, records: 0 })
})

t.test('export catches tampering with the database at the first bad seq', async (t) => {
  const seed: Seed = { counts: { acme: 12, globex: 4 }, checkpoints: { acme: [6, 12] } }
  const expectFailure = async (t: Test, w: World, seq: number, problem: RegExp, failing: number, hmacKeys: ReadonlyMap<string, Buffer> | null = ring): Promise<string> => {
    const e = await exportOf(w, ALL, hmacKeys)
    t.match(e, { code: 1, failing }, `${failing} failing`)
    t.match(e.problems, [{ log: 'acme', seq, problem }])
    t.match(e.io.errors[0], new RegExp(`^log acme seq ${seq}: `))
    t.match(e.io.lines, [new RegExp(`^audit export: scanned \\d+, wrote \\d+, failing ${e.failing} `)])
    t.match(readLines(e.out).at(-1), { export: { failing: e.failing, problems: [{ log: 'acme', seq }] } }, 'the manifest says so')
    return e.out
  }

  t.test('a flipped byte', async (t) => {
    const w = await world(t, seed)
    await tamper(w.db, "update audit_log set record = replace(record, $1, $2) where tenant_id = 'acme' and seq = 5", ['"note":"n"', '"note":"m"'])
    await expectFailure(t, w, 5, /^hash does not match the record$/, 1)
  })

  t.test('a deleted record', async (t) => {
    const w = await world(t, seed)
    await tamper(w.db, "delete from audit_log where tenant_id = 'acme' and seq = 4")
    await expectFailure(t, w, 4, /^expected seq 4, found 5: a record is missing or out of order$/, 1)
  })

  t.test('two records swapped', async (t) => {
    const w = await world(t, seed)
    await tamper(w.db, `update audit_log a set record = b.record, key_id = b.key_id, signature = b.signature, prev_hash = b.prev_hash, hash = b.hash,
        at = b.at, trace_id = b.trace_id, job_id = b.job_id, record_type = b.record_type
      from audit_log b where a.tenant_id = 'acme' and b.tenant_id = 'acme' and ((a.seq = 3 and b.seq = 8) or (a.seq = 8 and b.seq = 3))`)
    await expectFailure(t, w, 3, /^stored columns do not match the signed record$/, 4)
  })

  t.test('the tail cut off, head moved back too: only the checkpoint knows', async (t) => {
    const w = await world(t, seed)
    const ten = (w.records.get('acme') as SealedRecord[])[9]
    await tamper(w.db, "delete from audit_log where tenant_id = 'acme' and seq > 10")
    await w.db.query("update audit_heads set seq = 10, hash = $1 where tenant_id = 'acme'", [ten.hash])
    await expectFailure(t, w, 11, /^a checkpoint vouches for seq 12, but the records stop at seq 10: records were removed$/, 1)
  })

  t.test('a whole log deleted', async (t) => {
    const w = await world(t, seed)
    await tamper(w.db, "delete from audit_log where tenant_id = 'globex'")
    const e = await exportOf(w)
    t.match(e.problems, [{ log: 'globex', seq: 1, problem: /head says seq 4, but the records stop at seq 0/ }])
  })

  t.test('a query column changed to hide a record from filters', async (t) => {
    const w = await world(t, seed)
    await tamper(w.db, "update audit_log set trace_id = 'elsewhere' where tenant_id = 'acme' and seq = 2")
    await expectFailure(t, w, 2, /query columns .* do not match the signed record/, 1)
  })

  t.test('the tail re-chained under a forged HMAC key', async (t) => {
    const w = await world(t, seed)
    const forger = { id: keyA.id, secret: Buffer.alloc(32, 9) }
    let prev = (w.records.get('acme') as SealedRecord[])[6].hash
    for (const r of (w.records.get('acme') as SealedRecord[]).slice(7)) {
      const s = sealRecord({ ...r.entry, body: { ...r.entry.body, note: 'forged' } }, r.seq, prev, forger)
      prev = s.hash
      await tamper(w.db, "update audit_log set record = $1, signature = $2, prev_hash = $3, hash = $4 where tenant_id = 'acme' and seq = $5", [s.canonical, s.mac, s.prevHash, s.hash, s.seq])
    }
    await expectFailure(t, w, 8, /^signature does not match the record$/, 6)
    const file = await expectFailure(t, w, 12, /^checkpoint does not vouch for this chain: a record from seq 7 to 12 was rewritten$/, 1, null)
    t.match(await verify(file, w.publicKeys), { code: 1, problems: [{ log: 'acme', seq: 12, problem: /checkpoint does not vouch/ }] }, 'offline, with the public key alone')
    t.match(await verify(file, w.publicKeys, ring), { code: 1, problems: [{ log: 'acme', seq: 8, problem: /signature does not match/ }] }, 'offline, with the HMAC key')
  })
})

t.test('verify catches a tampered file at the first bad seq', async (t) => {
  const w = await world(t, { counts: { acme: 12, globex: 4 }, checkpoints: { acme: [6, 12] } })
  const clean = (await exportOf(w)).out
  const edited = async (change: (lines: Line[]) => void, hmacKeys?: ReadonlyMap<string, Buffer>): Promise<Awaited<ReturnType<typeof verify>>> => {
    const lines = readLines(clean)
    change(lines)
    const file = path.join(w.dir, `edited-${++exports}.jsonl`)
    writeLines(file, lines)
    return await verify(file, w.publicKeys, hmacKeys)
  }
  const recordAt = (lines: Line[], seq: number): Line => lines[at(lines, 'record', 'acme', seq)]

  const body = await edited((lines) => { recordAt(lines, 5).record = String(recordAt(lines, 5).record).replace('"note":"n"', '"note":"m"') })
  t.match(body, { code: 1, problems: [{ log: 'acme', seq: 5, problem: 'hash does not match the record' }] })
  t.match(body.io.lines, [/^audit verify: checked 16 records, 2 checkpoints: log acme seq 5: hash does not match the record$/])

  const rehashed = await edited((lines) => {
    const r = recordAt(lines, 5)
    r.record = String(r.record).replace('"note":"n"', '"note":"m"')
    r.hash = sha256Tagged(r.record as string)
  })
  t.match(rehashed, { code: 1, problems: [{ log: 'acme', seq: 6, problem: /previous-hash link is broken/ }] })

  const removed = await edited((lines) => { lines.splice(at(lines, 'record', 'acme', 9), 1) })
  t.match(removed, { code: 1, problems: [{ log: 'acme', seq: 9, problem: /expected seq 9, found 10/ }, { log: 'acme', problem: 'the manifest says records 12, the file has 11' }] })

  const lastRemoved = await edited((lines) => { lines.splice(at(lines, 'record', 'acme', 12), 1) })
  t.match(lastRemoved, { code: 1, problems: [{ log: 'acme', seq: 12, problem: /checkpoint vouches for seq 12, but the records stop at seq 11/ }] })

  const forgedSignature = await edited((lines) => {
    const c = lines[at(lines, 'checkpoint', 'acme', 6)]
    const sig = Buffer.from(String(c.signature), 'base64')
    sig[0] ^= 1
    c.signature = sig.toString('base64')
  })
  t.match(forgedSignature, { code: 1, problems: [{ log: 'acme', seq: 6, problem: 'checkpoint signature does not verify' }] })

  const otherKey = await loadCheckpointKey({ dataDir: tempDir(t) })
  const resigned = await edited((lines) => {
    const c = lines[at(lines, 'checkpoint', 'acme', 6)]
    lines[at(lines, 'checkpoint', 'acme', 6)] = { kind: 'checkpoint', ...signCheckpoint(otherKey, { tenantId: 'acme', seq: 6, hash: String(c.head_hash), at: String(c.at) }) }
  })
  t.match(resigned, { code: 1, problems: [{ log: 'acme', seq: 6, problem: `checkpoint signed with unknown key ${otherKey.id}` }] })

  t.match(await edited((lines) => { lines.pop() }), { code: 1, problems: [{ problem: 'no manifest line at the end: the file is incomplete' }] })
  t.match(await edited((lines) => { lines.shift() }), { code: 1, problems: [{ line: 1, problem: 'the file does not start with an export header' }] })
  t.match(await edited((lines) => { (lines.at(-1) as unknown as Manifest).totals.selected = 15 }), { code: 1, problems: [{ problem: /the manifest's signature does not verify/ }, { problem: 'the manifest says totals.selected 15, the file has 16' }] })
  t.match(await edited((lines) => { recordAt(lines, 3).selected = false }), {
    code: 1,
    problems: [{ log: 'acme', seq: 3, problem: 'marked not selected, but the record does match the export\'s filter' }, { log: 'acme', problem: /manifest says selected 12, the file has 11/ }]
  })
  t.match(await edited((lines) => { lines.splice(2, 0, raw('{"kind":')) }), { code: 1, problems: [{ line: 3, problem: 'not a JSON object' }] })
  t.match(await edited((lines) => { lines.splice(2, 0, raw('{"kind":"record","seq":"one"}')) }), { code: 1, problems: [{ line: 3, problem: 'not a valid record line' }] })
  t.match(await edited((lines) => { recordAt(lines, 4).record = 'garbage' }), { code: 1, problems: [{ log: 'acme', seq: 4, problem: 'record is not JSON' }] })
  t.match(await edited((lines) => { delete (lines.at(-1) as unknown as Manifest).logs.globex }), { code: 1, problems: [{ problem: /the manifest's signature does not verify/ }, { log: 'globex', problem: 'the manifest omits the log' }] })

  // The manifest is signed with the checkpoint key: without it, nobody can cut the file and make the counts agree.
  const cut = await edited((lines) => {
    // Drop globex, and acme's run after its checkpoint at seq 6, then fix every count to match.
    const kept = lines.filter((l) => l.tenant_id !== 'globex' && !(l.kind === 'record' && l.tenant_id === 'acme' && Number(l.seq) > 6) && !(l.kind === 'checkpoint' && Number(l.seq) > 6))
    lines.splice(0, lines.length, ...kept)
    const m = lines.at(-1) as unknown as Manifest
    delete m.logs.globex
    m.logs.acme = { ...m.logs.acme, last_seq: 6, records: 6, selected: 6, checkpoints: [6] }
  })
  t.match(cut.problems[0], { problem: /the manifest's signature does not verify: the manifest was altered/ }, 'a cut file with fixed counts is caught')
  t.equal(cut.code, 1)
  t.match(await edited((lines) => { delete (lines.at(-1) as unknown as Partial<Manifest>).signature }), { code: 1, problems: [{ problem: /the manifest is not signed/ }] })
  t.match(await edited((lines) => {
    const m = lines.at(-1) as unknown as Manifest
    m.signature = { ...m.signature, key_id: otherKey.id }
  }), { code: 1, problems: [{ problem: `the manifest is signed with unknown key ${otherKey.id}` }] })
  t.match(await edited((lines) => { lines[0].exported_at = '2020-01-01T00:00:00.000Z' }), { code: 1, problems: [{ problem: 'the header is not the one the manifest was signed with' }] })

  t.match(await edited(() => {}, ring), { code: 0 }, 'the unedited file verifies')
})

t.test('key rotation: records signed under two HMAC keys all verify', async (t) => {
  const w = await world(t, { counts: { acme: 5 } })
  await append(w, keyB, { acme: 5 })
  await checkpoint(w, 'acme', 10)
  const e = await exportOf(w)
  t.match(e, { code: 0, written: 10 })
  t.same(readLines(e.out).filter((l) => l.kind === 'record').map((l) => l.key_id), [...Array(5).fill('hk_a'), ...Array(5).fill('hk_b')])
  t.match(await verify(e.out, w.publicKeys, ring), { code: 0 })
  const onlyA = new Map([[keyA.id, keyA.secret]])
  t.match(await verify(e.out, w.publicKeys, onlyA), { code: 1, problems: [{ log: 'acme', seq: 6, problem: 'signed with unknown key hk_b' }] })
  t.match(await exportOf(w, ALL, onlyA), { code: 1, problems: [{ log: 'acme', seq: 6, problem: 'signed with unknown key hk_b' }] })
})

t.test('the commands: options, the embedded database in DATA_DIR, exit codes', async (t) => {
  const dir = await dataDir(t)
  const db = await openEmbedded(path.join(dir, 'pgdata'))
  await migrate(db)
  const key = await loadHmacKey({ dataDir: dir })
  const checkpointKey = await loadCheckpointKey({ dataDir: dir })
  const writer = new AuditWriter(db, key)
  const now = Date.now()
  let last: SealedRecord | undefined
  for (const [i, age] of [10 * 86_400_000, 9 * 86_400_000, 3_600_000, 60_000].entries()) {
    last = await writer.append(entry('acme', i + 1, undefined, new Date(now - age).toISOString()), later())
  }
  const head = last as SealedRecord
  await insertCheckpoint(db, signCheckpoint(checkpointKey, { tenantId: 'acme', seq: head.seq, hash: head.hash, at: new Date().toISOString() }))
  await db.close()
  const pem = path.join(dir, 'checkpoint.pem')
  writeFileSync(pem, publicKeyPem(checkpointKey))
  const out = path.join(dir, 'evidence.jsonl')
  const run = async (args: string[], env: Record<string, string> = { DATA_DIR: dir }): Promise<{ code: number, io: Io }> => {
    const io = capture()
    return { code: await auditCommand(args, io, env), io }
  }

  const exported = await run(['export', '--since', '7d', '--out', out])
  t.equal(exported.code, 0, exported.io.errors.join('\n'))
  t.match(exported.io.lines, [/^audit export: scanned 4, wrote 2, failing 0 \(2 matching the filter, 1 checkpoints\)/])
  t.match(readLines(out).at(-1), { filter: { since: /^\d{4}-.*Z$/, until: null } })
  const verified = await run(['verify', out, '--public-key', pem, '--hmac-key', key.path])
  t.same(verified, { code: 0, io: { ...verified.io, lines: ['audit verify: checked 2 records, 1 checkpoints: OK (without --witness, a rollback of a whole log to an earlier checkpoint is not ruled out)'], errors: [] } })

  // The command as a process: `arbiter audit …` reaches these commands past the top-level options.
  const main = path.join(PACKAGE_ROOT, 'src/cli/main.ts')
  const child = await promisify(execFile)(process.execPath, [...TYPESCRIPT_ARGS, main, 'audit', 'verify', out, '--public-key', pem], { env: childEnv({ PATH: process.env.PATH }) })
  t.match(child.stdout, /^audit verify: checked 2 records, 1 checkpoints: OK \(without --witness, .*\)\n$/)

  const misuse: Array<[string[], RegExp]> = [
    [['export', '--since', 'soon', '--out', out], /^audit export: soon is neither a duration/],
    [['export', '--since', '1d', '--until', '2d', '--out', out], /--since must be before --until/],
    [['export', '--since', '7d'], /--out FILE is required/],
    [['export', '--bogus', '--out', out], /Unknown option '--bogus'/],
    [['verify', out], /--public-key FILE is required/],
    [['verify', path.join(dir, 'missing.jsonl'), '--public-key', pem], /ENOENT/],
    [['frobnicate'], /^usage:/]
  ]
  for (const [args, message] of misuse) {
    const r = await run(args)
    t.equal(r.code, 2, args.join(' '))
    t.match(r.io.errors[0], message)
  }
  const empty = tempDir(t)
  t.match(await run(['export', '--out', out], { DATA_DIR: empty }), { code: 2, io: { errors: [/no HMAC key at .*hmac\.key/] } })
  writeFileSync(path.join(empty, 'hmac.key'), key.secret.toString('hex'), { mode: 0o600 })
  t.match(await run(['export', '--out', out, '--public-key', pem], { DATA_DIR: empty }), { code: 2, io: { errors: [/no checkpoint key at .*ed25519\.key: the export's manifest is signed with it/] } })
  writeFileSync(path.join(empty, 'ed25519.key'), readFileSync(path.join(dir, 'ed25519.key')), { mode: 0o600 })
  t.match(await run(['export', '--out', out], { DATA_DIR: empty }), { code: 2, io: { errors: [/no database: set DATABASE_URL/] } })
})

t.test('durations and timestamps', async (t) => {
  const now = new Date('2025-03-10T12:00:00.000Z')
  t.equal(resolveTime('7d', now), '2025-03-03T12:00:00.000Z')
  t.equal(resolveTime('12h', now), '2025-03-10T00:00:00.000Z')
  t.equal(resolveTime('30m', now), '2025-03-10T11:30:00.000Z')
  t.equal(resolveTime('2025-03-01T00:00:00Z', now), '2025-03-01T00:00:00.000Z')
  t.equal(resolveTime('2025-03-01', now), '2025-03-01T00:00:00.000Z')
  for (const bad of ['7', 'd7', '7y', 'yesterday', '2025-13-45', `${'9'.repeat(20)}d`]) t.throws(() => resolveTime(bad, now), { message: /neither a duration/ }, bad)
})

t.test('tenant ids that are names of object members export and verify like any other', async (t) => {
  // fromEntries: a literal __proto__ key would set the prototype instead of naming a tenant.
  const w = await world(t, { counts: Object.fromEntries([['toString', 2], ['constructor', 1], ['__proto__', 1], ['hasOwnProperty', 1]]) })
  const exported = await exportOf(w)
  t.equal(exported.code, 0, [...exported.io.lines, ...exported.io.errors].join('\n'))
  const verified = await verify(exported.out, w.publicKeys, ring)
  t.equal(verified.code, 0, [...verified.io.lines, ...verified.io.errors].join('\n'))
  t.equal(verified.records, 5)
})

t.test('--job exports a job\'s records; --session the decisions of a session\'s jobs', async (t) => {
  const w = await world(t, { counts: { acme: 6 } })
  const writer = new AuditWriter(w.db, keyA)
  const decided = (i: number, session: string): AuditEntry => ({
    type: 'decision',
    tenant_id: 'acme',
    trace_id: `t-s${i}`,
    job_id: `s${i}`,
    at: minute(10 + i),
    actor: null,
    body: { decision_id: randomUUID(), decision: 'ALLOW', job: { job_id: `s${i}`, topic: 'job.read.x', session_id: session } }
  })
  for (const [i, session] of [[1, 'sess-a'], [2, 'sess-b'], [3, 'sess-a']] as const) await writer.append(decided(i, session), later())
  await writer.append({ ...entry('acme', 10), job_id: 's1' }, later())
  await checkpoint(w, 'acme', 6)

  const job = await exportOf(w, { ...ALL, job_id: 's1' })
  t.match(job, { code: 0, selected: 2 })
  t.same(readLines(job.out).filter((l) => l.kind === 'record' && l.selected === true).map((l) => l.seq), [7, 10])
  const session = await exportOf(w, { ...ALL, session_id: 'sess-a' })
  t.match(session, { code: 0, selected: 2 })
  t.same(readLines(session.out).filter((l) => l.kind === 'record' && l.selected === true).map((l) => l.seq), [7, 9])
  t.match(readLines(session.out)[0], { filter: { session_id: 'sess-a', job_id: null } })
  for (const file of [job.out, session.out]) t.match(await verify(file, w.publicKeys, ring), { code: 0 })
  const io = capture()
  t.equal(await auditCommand(['export', '--job', 'a b', '--out', path.join(w.dir, 'x.jsonl')], io, { DATA_DIR: w.dir }), 2)
  t.match(io.errors[0], /--job must be a printable id/)
})

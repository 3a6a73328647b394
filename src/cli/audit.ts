/**
 * `arbiter audit export` writes evidence out of the audit log, re-verifying every log from its
 * first record as it goes (src/ledger/export.ts); `arbiter audit verify` checks such a file
 * offline. The file format and why it proves what it does: src/audit/evidence.ts.
 */
import type { KeyObject } from 'node:crypto'
import { createReadStream, existsSync, statSync } from 'node:fs'
import { open, readFile, rename } from 'node:fs/promises'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import pino from 'pino'
import type { Checkpoint, CheckpointKey } from '../audit/checkpoint.js'
import { readWitness, witnessProblem, type LogView } from '../audit/witness.js'
import { CHECKPOINT_KEY_FILE, loadCheckpointKey, publicKeyPem } from '../audit/checkpoint-key.js'
import { EvidenceVerifier, formatProblem, joinProblems, publicKeyRing, type EvidenceFilter, type LogSpan, type VerifyReport } from '../audit/evidence.js'
import { HMAC_KEY_FILE, loadHmacKey, loadHmacKeyring } from '../audit/hmac-key.js'
import { loadConfig, type Config } from '../config.js'
import { ArchiveRefused, planArchive, removeArchived } from '../ledger/archive.js'
import { exportLogs, type EvidenceOptions, type EvidenceSummary } from '../ledger/export.js'
import { isPrintableId } from '../schemas/common.js'
import { lastSeq, readLog } from '../store/log-read.js'
import { openDatabase } from '../store/open.js'
import { latestArchives, periodStart } from '../store/partitions.js'
import { CommitOutcomeUnknown, type Database, type Queryable } from '../store/db.js'
import type { Output } from './output.js'

export const AUDIT_USAGE = `usage:
  arbiter audit export [--since 7d|ISO] [--until 12h|ISO] [--trace ID] [--job ID] [--session ID] [--tenant T] [--public-key PEM…] [--witness FILE] --out FILE
  arbiter audit archive [--before DATE] --out FILE|DIR [--keep] [--public-key PEM…]
  arbiter audit verify FILE… --public-key PEM… [--hmac-key FILE…] [--witness FILE]`

export interface AuditIo extends Output {
  /** Told how far an export got; '' clears the line. */
  progress?: (line: string) => void
}

export class UsageError extends Error {}

/** `args` follow `arbiter audit`; the exit code: 0 clean, 1 failing, 2 misused. */
export async function auditCommand (args: string[], io: AuditIo, env: Record<string, string | undefined>): Promise<number> {
  const [sub, ...rest] = args
  try {
    if (sub === 'export') return await exportCommand(rest, io, env)
    if (sub === 'verify') return await verifyCommand(rest, io)
    if (sub === 'archive') return await archiveCommand(rest, io, env)
  } catch (err) {
    if (err instanceof ArchiveRefused) {
      io.err(`audit archive: refused: ${err.message}`)
      return 1
    }
    const code = (err as NodeJS.ErrnoException).code ?? ''
    if (!(err instanceof UsageError) && !code.startsWith('ERR_PARSE_ARGS') && !['ENOENT', 'EACCES', 'EISDIR'].includes(code)) throw err
    io.err(`audit ${sub}: ${(err as Error).message}`)
  }
  io.err(AUDIT_USAGE)
  return 2
}

async function exportCommand (args: string[], io: AuditIo, env: Record<string, string | undefined>): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { since: { type: 'string' }, until: { type: 'string' }, trace: { type: 'string' }, job: { type: 'string' }, session: { type: 'string' }, tenant: { type: 'string' }, out: { type: 'string', short: 'o' }, 'public-key': { type: 'string', multiple: true }, witness: { type: 'string' } }
  })
  if (values.out === undefined) throw new UsageError('--out FILE is required')
  const now = new Date()
  const filter: EvidenceFilter = {
    since: values.since === undefined ? null : resolveTime(values.since, now),
    until: values.until === undefined ? null : resolveTime(values.until, now),
    trace_id: values.trace ?? null,
    tenant_id: values.tenant ?? null,
    job_id: values.job ?? null,
    session_id: values.session ?? null
  }
  if (filter.since !== null && filter.until !== null && filter.since >= filter.until) throw new UsageError('--since must be before --until')
  for (const [option, value] of [['--trace', values.trace], ['--job', values.job], ['--session', values.session]] as const) {
    if (value !== undefined && !isPrintableId(value)) throw new UsageError(`${option} must be a printable id (no spaces), as the service takes it`)
  }
  const config = loadConfig(env)
  const hmacKeys = await installHmacKeys(config)
  const signer = await installCheckpointKey(config)
  const publicKeys = await installPublicKeys(signer, values['public-key'] ?? [])
  const witness = values.witness === undefined ? undefined : await readWitnessFile(values.witness, publicKeys, io)
  const db = await openInstallDatabase(config)
  try {
    const exported = await exportEvidence({ db, hmacKeys, publicKeys, signer, filter, out: values.out, io: withProgress(io) })
    if (witness === undefined) return exported.code
    const problems = [...witness.problems, ...await witnessedLogProblems(db, witness.checkpoints, filter.tenant_id)]
    for (const p of problems) io.err(`audit export: ${p}`)
    io.out(problems.length === 0
      ? `audit export: the log agrees with ${witness.checkpoints.length} witnessed checkpoints`
      : `audit export: FAILING: ${problems.length} disagreements with the witness, first: ${problems[0]}`)
    return problems.length === 0 ? exported.code : 1
  } finally {
    await db.close()
  }
}

/**
 * Archives the partitions filed before a date (src/ledger/archive.ts): exported and verified to
 * a new file, then dropped (with --keep, detached). Without --before, AUDIT_RETENTION_MONTHS
 * says which: everything before the first of the month that many months ago.
 */
async function archiveCommand (args: string[], io: AuditIo, env: Record<string, string | undefined>): Promise<number> {
  const { values } = parseArgs({ args, options: { before: { type: 'string' }, out: { type: 'string', short: 'o' }, keep: { type: 'boolean', default: false }, 'public-key': { type: 'string', multiple: true } } })
  if (values.out === undefined) throw new UsageError('--out FILE (or an existing directory) is required')
  const config = loadConfig(env)
  const now = new Date()
  let before: Date
  if (values.before !== undefined) {
    before = new Date(resolveTime(values.before, now))
  } else if (config.auditRetentionMonths !== undefined) {
    before = periodStart(now, 'month', -config.auditRetentionMonths)
  } else {
    throw new UsageError('--before DATE is required, unless AUDIT_RETENTION_MONTHS is set')
  }
  const hmacKeys = await installHmacKeys(config)
  const signer = await installCheckpointKey(config)
  const publicKeys = await installPublicKeys(signer, values['public-key'] ?? [])
  const db = await openInstallDatabase(config)
  try {
    const plan = await planArchive(db, before, now)
    if (plan === undefined) {
      io.out(`audit archive: no partition of the log ends by ${before.toISOString()}: nothing to archive`)
      return 0
    }
    const out = isDirectory(values.out) ? path.join(values.out, `arbiter-audit-archive-before-${plan.cut.toISOString().slice(0, 10)}.jsonl`) : values.out
    const filter: EvidenceFilter = { since: null, until: plan.cut.toISOString(), trace_id: null, tenant_id: null, job_id: null, session_id: null }
    // A new file, never one that is there: an archive may be the only copy of what it holds.
    const file = await open(out, 'wx', 0o600).catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'EEXIST' ? new UsageError(`${out} exists: an archive is never written over`) : err
    })
    // A run that removes nothing leaves its file aside, so that the next run (a CronJob's retry)
    // finds the name free, and nobody takes the file for an archive of rows still in the log.
    let done = false
    try {
      let summary: EvidenceSummary
      try {
        summary = await exportLogs(db, { hmacKeys, publicKeys, signer, filter, now, archive: { before: plan.cut.toISOString(), cuts: plan.cuts } }, { write: async (text) => { await file.write(text) }, progress: withProgress(io).progress })
        await file.sync()
      } finally {
        await file.close()
      }
      await syncDirectory(path.dirname(out))
      io.progress?.('')
      for (const p of summary.problems) io.err(formatProblem(p))
      if (summary.failing > 0) {
        io.out(`audit archive: FAILING: the log does not verify (${summary.failing} failing, first: ${formatProblem(summary.problems[0])}); nothing was removed; the file is left as ${out}.unfinished`)
        return 1
      }
      // Read back as an auditor would, with the HMAC keys: only a file that proves itself replaces the rows.
      const verified = await verifyEvidence({ file: out, publicKeys, hmacKeys, io: { out: () => {}, err: (line) => { io.err(line) } } })
      if (verified.code !== 0) {
        io.out(`audit archive: FAILING: the file does not verify as written; nothing was removed; it is left as ${out}.unfinished`)
        return 1
      }
      const removed = await removeArchived(db, plan, signer, { now, keep: values.keep }).catch((err: unknown) => {
        // The drop may have committed: the file may be all there is of those records now. Keep its name.
        if (err instanceof CommitOutcomeUnknown) {
          done = true
          io.err(`audit archive: the answer to the drop's COMMIT was lost: the partitions may be gone, so ${out} keeps its name. Run the command again: if it finds nothing to archive, the file is the archive; if it stops because the file exists, nothing was dropped (rename the file and run it once more)`)
        }
        throw err
      })
      done = true
      const what = removed.kept.length > 0 ? `detached and kept ${removed.kept.join(', ')}` : `dropped ${removed.dropped.join(', ')}`
      io.out(`audit archive: ${summary.written} records of ${plan.cuts.size} logs filed before ${plan.cut.toISOString()} written to ${out} and verified; ${what}`)
      return 0
    } finally {
      if (!done) await rename(out, `${out}.unfinished`)
    }
  } finally {
    await db.close()
  }
}

function isDirectory (p: string): boolean {
  try {
    return statSync(p).isDirectory()
  } catch {
    return false
  }
}

/** Makes a new file's name in `dir` durable (the file's own sync does not). */
async function syncDirectory (dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

async function verifyCommand (args: string[], io: Output): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { 'public-key': { type: 'string', multiple: true }, 'hmac-key': { type: 'string', multiple: true }, witness: { type: 'string' } } })
  if (positionals.length === 0) throw new UsageError('name an evidence file (or several, oldest first, to check that they join)')
  const pems = await Promise.all((values['public-key'] ?? []).map(async (f) => await readFile(f, 'utf8')))
  if (pems.length === 0) throw new UsageError('--public-key FILE is required: the checkpoint public key (PEM)')
  let hmacKeys: Map<string, Buffer> | undefined
  for (const file of values['hmac-key'] ?? []) {
    const key = await loadHmacKey({ dataDir: path.dirname(file), keyFile: file })
    ;(hmacKeys ??= new Map()).set(key.id, key.secret)
  }
  const publicKeys = publicKeyRing(pems)
  const witness = values.witness === undefined ? undefined : await readWitnessFile(values.witness, publicKeys, io)
  let code = 0
  const files: Array<{ name: string, spans: Map<string, LogSpan> }> = []
  for (const file of positionals) {
    const named: Output = positionals.length === 1 ? io : { out: (line) => { io.out(`${file}: ${line}`) }, err: (line) => { io.err(`${file}: ${line}`) } }
    const verified = await verifyEvidence({ file, publicKeys, hmacKeys, witnessed: witness?.checkpoints, io: named })
    code = Math.max(code, verified.code)
    files.push({ name: file, spans: verified.spans })
  }
  if (files.length > 1) {
    // Files given in order (archives, then the live log) must be one chain per log, no gap.
    const problems = joinProblems(files)
    for (const p of problems) io.err(formatProblem(p))
    // What the first file continues from is not proven here: an earlier archive holds it.
    const later = [...files[0].spans].filter(([, span]) => span.from.seq > 0).map(([log, span]) => `${log} after seq ${span.from.seq}`)
    const from = later.length === 0 ? 'every log from its first record' : `${later.length} log(s) continuing an earlier archive (${later.slice(0, 5).join(', ')}${later.length > 5 ? ', …' : ''})`
    io.out(problems.length === 0
      ? `audit verify: the ${files.length} files join: every log continues from where the file before it ends; the first holds ${from}`
      : `audit verify: FAILING: the files do not join: ${formatProblem(problems[0])}${problems.length > 1 ? ` (${problems.length} in all)` : ''}`)
    if (problems.length > 0) code = Math.max(code, 1)
  }
  for (const p of witness?.problems ?? []) io.err(`audit verify: ${p}`)
  // A witness line that does not verify is a failure of its own: someone edited the witness.
  return (witness?.problems.length ?? 0) > 0 ? Math.max(code, 1) : code
}

/** A witness file's checkpoints (CHECKPOINT_WITNESS_FILE), their signatures checked. */
async function readWitnessFile (file: string, publicKeys: ReadonlyMap<string, KeyObject>, io: Output): Promise<{ checkpoints: Checkpoint[], problems: string[] }> {
  const witness = readWitness(await readFile(file, 'utf8'), publicKeys)
  if (witness.checkpoints.length === 0 && witness.problems.length === 0) io.err(`audit: the witness ${file} holds no checkpoint yet`)
  return witness
}

/** What the checkpoints a witness holds say of the logs in the database (all, or `tenant`'s). */
async function witnessedLogProblems (db: Queryable, witnessed: readonly Checkpoint[], tenant: string | null): Promise<string[]> {
  const problems: string[] = []
  // Each log's last record, read once however many of its checkpoints were witnessed.
  const heads = new Map<string, LogView['head']>()
  for (const c of witnessed) {
    if (tenant !== null && c.tenant_id !== tenant) continue
    if (!heads.has(c.tenant_id)) {
      const end = await lastSeq(db, c.tenant_id)
      const [last] = await readLog(db, c.tenant_id, end, end, 1)
      // A log whose records were all archived ends where its archive statement says.
      const archived = (await latestArchives(db, c.tenant_id)).get(c.tenant_id)
      const head = last === undefined || (archived !== undefined && archived.seq > last.seq) ? archived && { seq: archived.seq, hash: archived.head_hash } : { seq: last.seq, hash: last.hash }
      heads.set(c.tenant_id, head)
    }
    const [at] = await readLog(db, c.tenant_id, c.seq, c.seq, 1)
    const problem = witnessProblem(c, { head: heads.get(c.tenant_id), hashAt: () => at?.hash })
    if (problem !== null) problems.push(`log ${c.tenant_id} seq ${c.seq}: ${problem}`)
  }
  return problems
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }

/** `7d`, `12h`, `30m`… before `now`, or an ISO timestamp; as an ISO timestamp. */
export function resolveTime (text: string, now: Date): string {
  const m = /^(\d+)([smhdw])$/.exec(text)
  const t = m !== null ? now.getTime() - Number(m[1]) * UNITS[m[2]] : /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : NaN
  if (Number.isNaN(new Date(t).getTime())) throw new UsageError(`${text} is neither a duration (7d, 12h, 30m) nor an ISO timestamp`)
  return new Date(t).toISOString()
}

async function installHmacKeys (config: Config): Promise<Map<string, Buffer>> {
  // Named explicitly so that a missing key is an error here rather than a new key.
  const keyFile = config.hmacKeyFile ?? path.join(config.dataDir, HMAC_KEY_FILE)
  if (!existsSync(keyFile)) throw new UsageError(`no HMAC key at ${keyFile}: set DATA_DIR (or ARBITER_HMAC_KEY_FILE) as for arbiter serve`)
  return await loadHmacKeyring({ dataDir: config.dataDir, keyFile })
}

/** The service's checkpoint key: it signs the export's manifest (so it is never created here). */
async function installCheckpointKey (config: Config): Promise<CheckpointKey> {
  const own = config.checkpointKeyFile ?? path.join(config.dataDir, CHECKPOINT_KEY_FILE)
  if (!existsSync(own)) throw new UsageError(`no checkpoint key at ${own}: the export's manifest is signed with it; set DATA_DIR (or ARBITER_CHECKPOINT_KEY_FILE) as for arbiter serve`)
  return await loadCheckpointKey({ dataDir: config.dataDir, keyFile: own })
}

/** The checkpoint keys the log's checkpoints may be signed with: the service's, and retired ones named with --public-key. */
async function installPublicKeys (own: CheckpointKey, files: string[]): Promise<Map<string, KeyObject>> {
  const pems = await Promise.all(files.map(async (f) => await readFile(f, 'utf8')))
  return publicKeyRing([...pems, publicKeyPem(own)])
}

export async function openInstallDatabase (config: Config): Promise<Database> {
  if (config.databaseUrl === undefined && !existsSync(path.join(config.dataDir, 'pgdata'))) {
    throw new UsageError(`no database: set DATABASE_URL, or DATA_DIR to where arbiter serve keeps its embedded one (${config.dataDir} has none)`)
  }
  // Warnings only, and on stderr: stdout carries the command's own output.
  return await openDatabase(config, pino({ level: 'warn' }, process.stderr))
}

function withProgress (io: AuditIo): AuditIo {
  if (io.progress !== undefined || process.stderr.isTTY !== true) return io
  let last = 0
  return {
    ...io,
    progress: (line) => {
      if (line !== '' && Date.now() - last < 100) return
      last = Date.now()
      process.stderr.write(`\r\x1b[K${line}`)
    }
  }
}

export interface ExportOptions extends EvidenceOptions {
  db: Queryable
  out: string
  io: AuditIo
}

export interface ExportResult extends EvidenceSummary {
  code: number
}

/** Verifies every log the filter touches from seq 1 and writes the evidence file `out`. */
export async function exportEvidence (o: ExportOptions): Promise<ExportResult> {
  const file = await open(o.out, 'w', 0o600)
  let summary: EvidenceSummary
  try {
    summary = await exportLogs(o.db, o, { write: async (text) => { await file.write(text) }, progress: o.io.progress })
  } finally {
    await file.close()
  }
  o.io.progress?.('')
  const { scanned, written, selected, checkpoints, failing, problems } = summary
  for (const p of problems) o.io.err(formatProblem(p))
  o.io.out(`audit export: scanned ${scanned}, wrote ${written}, failing ${failing} (${selected} matching the filter, ${checkpoints} checkpoints) to ${o.out}`)
  return { code: failing === 0 ? 0 : 1, scanned, written, selected, checkpoints, failing, problems }
}

/** Verifies an evidence file offline. */
export async function verifyEvidence (o: { file: string, publicKeys: ReadonlyMap<string, KeyObject | string>, hmacKeys?: ReadonlyMap<string, Buffer>, witnessed?: readonly Checkpoint[], io: Output }): Promise<VerifyReport & { code: number, spans: Map<string, LogSpan> }> {
  const verifier = new EvidenceVerifier({ hmac: o.hmacKeys, publicKeys: o.publicKeys }, o.witnessed)
  for await (const line of createInterface({ input: createReadStream(o.file), crlfDelay: Infinity })) verifier.line(line)
  const report = verifier.finish()
  for (const p of report.problems) o.io.err(formatProblem(p))
  const head = `audit verify: checked ${report.records} records, ${report.checkpoints} checkpoints`
  if (report.failing > 0) {
    o.io.out(`${head}: ${formatProblem(report.problems[0])}${report.failing > 1 ? ` (${report.failing} failing in all)` : ''}`)
  } else if (report.uncovered > 0) {
    // Consistent is not proven: anyone can write a consistent chain. Without a checkpoint or
    // the HMAC key behind them, these records prove nothing, and the exit code says so.
    o.io.out(`${head}: NOT PROVEN: ${report.uncovered} records after their log's last checkpoint are consistent, but neither a checkpoint nor an HMAC signature vouches for them (give --hmac-key, or export after the next checkpoint)`)
  } else {
    // What a file cannot prove by itself: that the log it came from was not rolled back, as a
    // whole, to an earlier checkpoint before the export. Only a witness outside the database can.
    o.io.out(`${head}: OK${o.witnessed === undefined ? ' (without --witness, a rollback of a whole log to an earlier checkpoint is not ruled out)' : `, and agrees with ${o.witnessed.length} witnessed checkpoints`}`)
  }
  return { ...report, code: report.failing > 0 ? 1 : report.uncovered > 0 ? 2 : 0, spans: verifier.spans() }
}

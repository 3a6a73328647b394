/**
 * `arbiter audit export` writes evidence out of the audit log, re-verifying every log from its
 * first record as it goes; `arbiter audit verify` checks such a file offline. The file format
 * and why it proves what it does: src/audit/evidence.ts.
 */
import type { KeyObject } from 'node:crypto'
import { createReadStream, existsSync } from 'node:fs'
import { open, readFile, type FileHandle } from 'node:fs/promises'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import pino from 'pino'
import { GENESIS_HASH, type ParsedRecord } from '../audit/chain.js'
import type { Checkpoint } from '../audit/checkpoint.js'
import { CHECKPOINT_KEY_FILE, loadCheckpointKey, publicKeyPem } from '../audit/checkpoint-key.js'
import {
  EvidenceVerifier, LogAuditor, Tally, checkpointLine, formatProblem, headerLine, manifestLine, matchesFilter,
  parseRecord, publicKeyRing, recordLine, type EvidenceFilter, type Problem, type VerifyReport
} from '../audit/evidence.js'
import { HMAC_KEY_FILE, loadHmacKey, loadHmacKeyring } from '../audit/hmac-key.js'
import { loadConfig, type Config } from '../config.js'
import { openDatabase } from '../store/open.js'
import { getHead } from '../store/log-append.js'
import { lastSeq, logIds, matchingRange, readLog, type LogRow } from '../store/log-read.js'
import { latestCheckpoints, listCheckpoints } from '../store/checkpoints.js'
import type { Database, Queryable } from '../store/db.js'
import type { Output } from './policy.js'

export const AUDIT_USAGE = `usage:
  arbiter audit export [--since 7d|ISO] [--until 12h|ISO] [--trace ID] [--tenant T] [--public-key PEM…] --out FILE
  arbiter audit verify FILE --public-key PEM… [--hmac-key FILE…]`

export interface AuditIo extends Output {
  /** Told how far an export got; '' clears the line. */
  progress?: (line: string) => void
}

class UsageError extends Error {}

/** `args` follow `arbiter audit`; the exit code: 0 clean, 1 failing, 2 misused. */
export async function auditCommand (args: string[], io: AuditIo, env: Record<string, string | undefined>): Promise<number> {
  const [sub, ...rest] = args
  try {
    if (sub === 'export') return await exportCommand(rest, io, env)
    if (sub === 'verify') return await verifyCommand(rest, io)
  } catch (err) {
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
    options: { since: { type: 'string' }, until: { type: 'string' }, trace: { type: 'string' }, tenant: { type: 'string' }, out: { type: 'string', short: 'o' }, 'public-key': { type: 'string', multiple: true } }
  })
  if (values.out === undefined) throw new UsageError('--out FILE is required')
  const now = new Date()
  const filter: EvidenceFilter = {
    since: values.since === undefined ? null : resolveTime(values.since, now),
    until: values.until === undefined ? null : resolveTime(values.until, now),
    trace_id: values.trace ?? null,
    tenant_id: values.tenant ?? null
  }
  if (filter.since !== null && filter.until !== null && filter.since >= filter.until) throw new UsageError('--since must be before --until')
  const config = loadConfig(env)
  const hmacKeys = await installHmacKeys(config)
  const publicKeys = await installPublicKeys(config, values['public-key'] ?? [])
  const db = await openInstallDatabase(config)
  try {
    return (await exportEvidence({ db, hmacKeys, publicKeys, filter, out: values.out, io: withProgress(io) })).code
  } finally {
    await db.close()
  }
}

async function verifyCommand (args: string[], io: Output): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { 'public-key': { type: 'string', multiple: true }, 'hmac-key': { type: 'string', multiple: true } } })
  if (positionals.length !== 1) throw new UsageError('name one evidence file')
  const pems = await Promise.all((values['public-key'] ?? []).map(async (f) => await readFile(f, 'utf8')))
  if (pems.length === 0) throw new UsageError('--public-key FILE is required: the checkpoint public key (PEM)')
  let hmacKeys: Map<string, Buffer> | undefined
  for (const file of values['hmac-key'] ?? []) {
    const key = await loadHmacKey({ dataDir: path.dirname(file), keyFile: file })
    ;(hmacKeys ??= new Map()).set(key.id, key.secret)
  }
  return (await verifyEvidence({ file: positionals[0], publicKeys: publicKeyRing(pems), hmacKeys, io })).code
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

async function installPublicKeys (config: Config, files: string[]): Promise<Map<string, KeyObject>> {
  const pems = await Promise.all(files.map(async (f) => await readFile(f, 'utf8')))
  const own = config.checkpointKeyFile ?? path.join(config.dataDir, CHECKPOINT_KEY_FILE)
  if (existsSync(own)) pems.push(publicKeyPem(await loadCheckpointKey({ dataDir: config.dataDir, keyFile: own })))
  if (pems.length === 0) throw new UsageError(`no checkpoint key at ${own}: name its public key with --public-key`)
  return publicKeyRing(pems)
}

async function openInstallDatabase (config: Config): Promise<Database> {
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

export interface ExportOptions {
  db: Queryable
  /** Every key the records may be signed with; without, signatures are not checked. */
  hmacKeys?: ReadonlyMap<string, Buffer>
  publicKeys: ReadonlyMap<string, KeyObject | string>
  filter: EvidenceFilter
  out: string
  io: AuditIo
  batchSize?: number
  now?: Date
}

export interface ExportResult {
  code: number
  scanned: number
  written: number
  selected: number
  checkpoints: number
  failing: number
  /** The first problem of each failing log. */
  problems: Problem[]
}

/** Verifies every log the filter touches from seq 1 and writes the evidence file `out`. */
export async function exportEvidence (o: ExportOptions): Promise<ExportResult> {
  const file = await open(o.out, 'w', 0o600)
  const tally = new Tally()
  const auditors: LogAuditor[] = []
  try {
    await file.write(headerLine(o.filter, (o.now ?? new Date()).toISOString()) + '\n')
    // Read before any log's end: each checkpoint in it vouches for records committed by then.
    const vouched = await latestCheckpoints(o.db)
    for (const log of await logIds(o.db, o.filter.tenant_id)) {
      const scanned = auditors.reduce((n, a) => n + a.records, 0)
      auditors.push(await exportLog(o, log, vouched.get(log) ?? 0, { file, tally, scanned }))
    }
    await file.write(manifestLine(o.filter, tally, summarize(auditors)) + '\n')
  } finally {
    await file.close()
  }
  o.io.progress?.('')
  const { scanned, failing, problems } = summarize(auditors)
  for (const p of problems) o.io.err(formatProblem(p))
  const { totals } = tally.summary()
  o.io.out(`audit export: scanned ${scanned}, wrote ${totals.records}, failing ${failing} (${totals.selected} matching the filter, ${totals.checkpoints} checkpoints) to ${o.out}`)
  return { code: failing === 0 ? 0 : 1, scanned, written: totals.records, selected: totals.selected, checkpoints: totals.checkpoints, failing, problems }
}

function summarize (auditors: LogAuditor[]): { scanned: number, failing: number, problems: Problem[] } {
  return {
    scanned: auditors.reduce((n, a) => n + a.records, 0),
    failing: auditors.reduce((n, a) => n + a.failing, 0),
    problems: auditors.flatMap((a) => a.first ?? [])
  }
}

interface Sink { file: FileHandle, tally: Tally, scanned: number }
interface Run { first: number, last: number }

async function exportLog (o: ExportOptions, log: string, vouched: number, sink: Sink): Promise<LogAuditor> {
  const head = await getHead(o.db, log)
  const end = await lastSeq(o.db, log)
  const run = await exportedRun(o.db, log, end, o.filter)
  const auditor = new LogAuditor(log, { hmac: o.hmacKeys, publicKeys: o.publicKeys }, { seq: 1, prevHash: GENESIS_HASH })
  const size = o.batchSize ?? 1000
  for (let from = 1; from <= end;) {
    const rows = await readLog(o.db, log, from, end, size)
    if (rows.length === 0) break
    const to = rows[rows.length - 1].seq
    const checkpoints = await listCheckpoints(o.db, log, from, to, to - from + 1)
    const lines = checkBatch(o.filter, auditor, rows, checkpoints, run, sink.tally)
    if (lines.length > 0) await sink.file.write(lines.join('\n') + '\n')
    o.io.progress?.(`audit export: log ${log}, seq ${to} of ${end}; scanned ${sink.scanned + auditor.records}`)
    from = to + 1
  }
  // A checkpoint read before `end` that lies beyond it vouches for records no longer there.
  if (vouched > end) {
    const [c] = await listCheckpoints(o.db, log, end + 1, vouched, 1)
    if (c !== undefined) auditor.checkpoint(c)
  }
  if (head !== undefined && head.seq > end) auditor.fail(end + 1, `the log's head says seq ${head.seq}, but the records stop at seq ${end}: records were removed`)
  return auditor
}

/** Checks rows and the checkpoints among them in seq order; returns the lines to export. */
function checkBatch (filter: EvidenceFilter, auditor: LogAuditor, rows: LogRow[], checkpoints: Checkpoint[], run: Run | undefined, tally: Tally): string[] {
  const lines: string[] = []
  const inRun = (seq: number): boolean => run !== undefined && seq >= run.first && seq <= run.last
  let i = 0
  const checkpointsTo = (seq: number): void => {
    for (; i < checkpoints.length && checkpoints[i].seq <= seq; i++) {
      auditor.checkpoint(checkpoints[i])
      if (!inRun(checkpoints[i].seq)) continue
      lines.push(checkpointLine(checkpoints[i]))
      tally.checkpoint(checkpoints[i])
    }
  }
  for (const row of rows) {
    // Checkpoints passed over name records that are missing.
    checkpointsTo(row.seq - 1)
    const parsed = parseRecord(row.record)
    auditor.record(row, queryColumnsProblem(row, parsed))
    if (inRun(row.seq)) {
      const selected = parsed !== undefined && matchesFilter(parsed, filter)
      lines.push(recordLine(row, selected))
      tally.record(row, selected, parsed)
    }
    checkpointsTo(row.seq)
  }
  return lines
}

/** Filters select by these copies of the signed fields: one changed could hide a record. */
function queryColumnsProblem (row: LogRow, p: ParsedRecord | undefined): string | null {
  if (p === undefined) return null
  const at = row.at instanceof Date ? row.at.getTime() : Date.parse(row.at)
  const same = row.record_type === p.type && row.trace_id === p.trace_id && row.job_id === p.job_id && at === Date.parse(p.at)
  return same ? null : 'the query columns (type, time, trace, job) do not match the signed record'
}

/** From the log's first matching record to its last, or on to the checkpoint that vouches for it. */
async function exportedRun (db: Queryable, log: string, end: number, f: EvidenceFilter): Promise<Run | undefined> {
  const range = await matchingRange(db, log, end, f)
  if (range === undefined) return undefined
  const [cover] = await listCheckpoints(db, log, range.last, end, 1)
  return { first: range.first, last: cover?.seq ?? range.last }
}

/** Verifies an evidence file offline. */
export async function verifyEvidence (o: { file: string, publicKeys: ReadonlyMap<string, KeyObject | string>, hmacKeys?: ReadonlyMap<string, Buffer>, io: Output }): Promise<VerifyReport & { code: number }> {
  const verifier = new EvidenceVerifier({ hmac: o.hmacKeys, publicKeys: o.publicKeys })
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
    o.io.out(`${head}: OK`)
  }
  return { ...report, code: report.failing > 0 ? 1 : report.uncovered > 0 ? 2 : 0 }
}

/**
 * Exporting evidence out of the audit log: every log the filter touches is re-verified from its
 * first record as it goes, and what the filter selects is written out with the checkpoints that
 * vouch for it. The file format and why it proves what it does: src/audit/evidence.ts.
 */
import type { KeyObject } from 'node:crypto'
import { checkArchive, type Archived } from '../audit/archive.js'
import { GENESIS_HASH, type ParsedRecord } from '../audit/chain.js'
import { signCheckpoint, type Checkpoint, type CheckpointKey } from '../audit/checkpoint.js'
import {
  LogAuditor, Tally, checkpointLine, headerLine, manifestLine, matchesFilter, parseRecord, recordLine,
  type EvidenceFilter, type Problem
} from '../audit/evidence.js'
import { insertCheckpoint, latestCheckpoints, listCheckpoints } from '../store/checkpoints.js'
import type { Queryable } from '../store/db.js'
import { getHead } from '../store/log-append.js'
import { lastSeq, logIds, matchingRange, readLog, type LogRow } from '../store/log-read.js'
import { latestArchives } from '../store/partitions.js'

export interface EvidenceOptions {
  /** Every key the records may be signed with; without, signatures are not checked. */
  hmacKeys?: ReadonlyMap<string, Buffer>
  publicKeys: ReadonlyMap<string, KeyObject | string>
  /** The checkpoint key, which signs the manifest. */
  signer: CheckpointKey
  filter: EvidenceFilter
  batchSize?: number
  now?: Date
  /**
   * An archive (src/ledger/archive.ts): of each log in `cuts`, every record from its start up to
   * its cut, ending on a checkpoint (signed here if none stands there); of every other log that
   * starts after an earlier archive, that start.
   */
  archive?: { before: string, cuts: ReadonlyMap<string, number> }
}

/** Where the evidence goes. */
export interface EvidenceSink {
  /** Takes the next lines of the evidence file, each ending in a newline. */
  write: (text: string) => Promise<void>
  /** Told how far the export got. */
  progress?: (line: string) => void
}

export interface EvidenceSummary {
  scanned: number
  written: number
  selected: number
  checkpoints: number
  failing: number
  /** The first problem of each failing log. */
  problems: Problem[]
}

/** Verifies every log the filter touches from seq 1 and writes the evidence to `sink`. */
export async function exportLogs (db: Queryable, o: EvidenceOptions, sink: EvidenceSink): Promise<EvidenceSummary> {
  const tally = new Tally()
  const auditors: LogAuditor[] = []
  const header = headerLine(o.filter, (o.now ?? new Date()).toISOString(), o.archive === undefined ? undefined : { before: o.archive.before })
  await sink.write(header + '\n')
  // Read before any log's end: each checkpoint in it vouches for records committed by then.
  const vouched = await latestCheckpoints(db)
  const archived = await latestArchives(db, o.filter.tenant_id ?? undefined)
  for (const log of await logIds(db, o.filter.tenant_id)) {
    const scanned = auditors.reduce((n, a) => n + a.records, 0)
    const auditor = await exportLog(db, o, log, { vouched: vouched.get(log) ?? 0, archived: archived.get(log) }, { sink, tally, scanned })
    if (auditor !== undefined) auditors.push(auditor)
  }
  // No prototype: tenant ids such as `__proto__` are valid.
  const heads = Object.create(null) as Record<string, { seq: number, hash: string }>
  for (const a of auditors) if (a.head.seq > 0) heads[a.log] = { ...a.head }
  await sink.write(manifestLine(o.filter, tally, summarize(auditors), header, heads, o.signer) + '\n')
  const { scanned, failing, problems } = summarize(auditors)
  const { totals } = tally.summary()
  return { scanned, written: totals.records, selected: totals.selected, checkpoints: totals.checkpoints, failing, problems }
}

function summarize (auditors: LogAuditor[]): { scanned: number, failing: number, problems: Problem[] } {
  return {
    scanned: auditors.reduce((n, a) => n + a.records, 0),
    failing: auditors.reduce((n, a) => n + a.failing, 0),
    problems: auditors.flatMap((a) => a.first ?? [])
  }
}

/** Where one log's export goes, and how many records the logs before it scanned. */
interface LogSink { sink: EvidenceSink, tally: Tally, scanned: number }
interface Run { first: number, last: number }

/**
 * What the database says of a log before its records: the newest checkpoint signed when it was
 * read (`vouched`), and the archive statement its records now start after, if any.
 */
interface LogStart { vouched: number, archived: Archived | undefined }

/** Exports one log; undefined when an archive has nothing of it. */
async function exportLog (db: Queryable, o: EvidenceOptions, log: string, { vouched, archived }: LogStart, out: LogSink): Promise<LogAuditor | undefined> {
  const head = await getHead(db, log)
  // A log whose start was archived continues from the archive's last record, where a
  // checkpoint stands: the anchor. Without a signed statement saying so, it starts at seq 1.
  const start = archived === undefined ? { seq: 1, prevHash: GENESIS_HASH } : { seq: archived.seq + 1, prevHash: archived.head_hash }
  const cut = o.archive?.cuts.get(log) ?? 0
  if (o.archive !== undefined && archived === undefined && cut === 0) return undefined
  const auditor = new LogAuditor(log, { hmac: o.hmacKeys, publicKeys: o.publicKeys }, start)
  let anchor: Checkpoint | undefined
  if (archived !== undefined) {
    ;[anchor] = await listCheckpoints(db, log, archived.seq, archived.seq, 1)
    const problem = checkArchive(archived, o.publicKeys) ?? (anchor === undefined ? `the log starts after the archive of seq 1 to ${archived.seq}, but no checkpoint stands at seq ${archived.seq}` : null)
    if (problem !== null) auditor.fail(archived.seq, problem)
  }
  const end = Math.max(o.archive !== undefined ? cut : await lastSeq(db, log), start.seq - 1)
  const run = o.archive !== undefined
    ? (end >= start.seq ? { first: start.seq, last: end } : undefined)
    : await exportedRun(db, log, end, o.filter, start.seq)
  // The anchor goes first when the lines start with the log's first record here, or when an
  // unfiltered export (or an archive) has nothing else of the log: where it now starts.
  if (anchor !== undefined && (run?.first === start.seq || (run === undefined && (o.archive !== undefined || unfiltered(o.filter))))) {
    auditor.checkpoint(anchor)
    await out.sink.write(checkpointLine(anchor) + '\n')
    out.tally.checkpoint(anchor)
  }
  const size = o.batchSize ?? 1000
  for (let from = start.seq; from <= end;) {
    const rows = await readLog(db, log, from, end, size)
    if (rows.length === 0) break
    const to = rows[rows.length - 1].seq
    const checkpoints = await listCheckpoints(db, log, from, to, to - from + 1)
    const lines = checkBatch(o.filter, auditor, rows, checkpoints, run, out.tally)
    if (lines.length > 0) await out.sink.write(lines.join('\n') + '\n')
    out.sink.progress?.(`audit export: log ${log}, seq ${to} of ${end}; scanned ${out.scanned + auditor.records}`)
    from = to + 1
  }
  if (o.archive !== undefined) {
    if (auditor.failing === 0 && end >= start.seq && auditor.anchored !== end) await signCut(db, o, auditor, out)
    return auditor
  }
  // A checkpoint read before `end` that lies beyond it vouches for records no longer there.
  if (vouched > end) {
    const [c] = await listCheckpoints(db, log, end + 1, vouched, 1)
    if (c !== undefined) auditor.checkpoint(c)
  }
  if (head !== undefined && head.seq > end && head.seq > start.seq - 1) auditor.fail(end + 1, `the log's head says seq ${head.seq}, but the records stop at seq ${end}: records were removed`)
  return auditor
}

/**
 * An archive ends each log on a checkpoint, which the live log will start from: signed here
 * over the records just verified (chain, and signatures when the HMAC keys are given) when
 * none stands at the cut. It is a true statement whatever happens next, so it is stored first.
 */
async function signCut (db: Queryable, o: EvidenceOptions, auditor: LogAuditor, out: LogSink): Promise<void> {
  const c = signCheckpoint(o.signer, { tenantId: auditor.log, seq: auditor.head.seq, hash: auditor.head.hash, at: (o.now ?? new Date()).toISOString() })
  await insertCheckpoint(db, c)
  const [stored] = await listCheckpoints(db, auditor.log, c.seq, c.seq, 1)
  auditor.checkpoint(stored)
  await out.sink.write(checkpointLine(stored) + '\n')
  out.tally.checkpoint(stored)
}

function unfiltered (f: EvidenceFilter): boolean {
  return f.since === null && f.until === null && f.trace_id === null && (f.job_id ?? null) === null && (f.session_id ?? null) === null
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

/** From the log's first matching record (from `start` on) to its last, or on to the checkpoint that vouches for it. */
async function exportedRun (db: Queryable, log: string, end: number, f: EvidenceFilter, start: number): Promise<Run | undefined> {
  const range = await matchingRange(db, log, end, f)
  if (range === undefined || range.last < start) return undefined
  const [cover] = await listCheckpoints(db, log, range.last, end, 1)
  return { first: Math.max(range.first, start), last: cover?.seq ?? range.last }
}

/**
 * Audit evidence: the file `arbiter audit export` writes and `arbiter audit verify` checks with
 * no database and, for the chain and the checkpoints, no secret. Pure: no I/O.
 *
 * Format `arbiter-audit-evidence/1`: JSON Lines, every line one object serialized with
 * fast-json-stable-stringify (sorted keys), told apart by `kind`:
 *
 *   1. `export`, the first line: format, exported_at and the filter (since/until as ISO times,
 *      until exclusive, trace_id, tenant_id, job_id, session_id (decisions of the job's
 *      session); null when not given); in an archive (`arbiter audit archive`) also
 *      `archive: { before }`, the time before which the records it holds were filed.
 *   2. For each log with records matching the filter, in log order: a `record` line for every
 *      seq of one contiguous run, each followed by the `checkpoint` lines at its seq.
 *      record:     { tenant_id, seq, record (the exact signed text), key_id, signature (hex
 *                    HMAC), prev_hash, hash, selected }
 *      checkpoint: { tenant_id, seq, head_hash, at, key_id, statement (the signed text),
 *                    signature (base64 Ed25519) }
 *   3. `manifest`, the last line (a file without it is incomplete): the filter again, the span
 *      of `at` of the matching records, per log the run's first and last seq, its records,
 *      matching records, their counts by type and time span, its checkpoints' seqs; totals;
 *      what the export scanned and found failing; the SHA-256 of the header line
 *      (`header_hash`); and `signature`, `{ key_id, value }`: the base64 Ed25519 signature, with
 *      the checkpoint key, of the manifest's canonical text without `signature`. So nobody
 *      without that key can drop a log or cut a run and fix the counts to match.
 *
 * Why runs, not only the matching records: records are chained by hash, not by a tree, so what
 * proves a record belongs to its log is every record after it up to a signed checkpoint. A run
 * goes from a log's first matching record to its last one, or on to the first checkpoint at or
 * after that; the records in it that do not match are proof only (`"selected": false`). With
 * the checkpoint public key alone a verifier checks each record's hash and canonical form, the
 * links and gapless seqs of the run, each checkpoint's signature and that it names the hash of
 * the record at its seq: everything up to a run's last checkpoint is then the log as it was
 * signed. Records after it are only shown consistent unless the HMAC keys are given, which
 * authenticate every record (its signed text holds its log, seq and previous hash). The first
 * record's `prev_hash` is taken as given: the exporter checked the log from seq 1, and a forger
 * gains nothing by choosing it, since the records after it are bound to the checkpoint.
 *
 * Anchors: a log whose oldest records were archived (src/ledger/archive.ts) starts in the
 * database after a checkpoint, and a file of it (or a later archive of it) carries that
 * checkpoint as the log's first line, before any record: the records then continue the chain
 * from the hash it signed. An archive ends every log on a checkpoint, so files given in order
 * can be checked to join, each log continuing from exactly where the one before ended
 * (`joinProblems`).
 */
import type { KeyObject } from 'node:crypto'
import { createHash, createPublicKey, sign, verify } from 'node:crypto'
import stableStringify from 'fast-json-stable-stringify'
import { ChainVerifier, type ParsedRecord, type StoredRecord } from './chain.js'
import { checkCheckpoint, type Checkpoint, type CheckpointKey } from './checkpoint.js'
import { checkpointKeyId } from './checkpoint-key.js'
import { witnessProblem } from './witness.js'

export const EVIDENCE_FORMAT = 'arbiter-audit-evidence/1'

export interface EvidenceFilter {
  since: string | null
  until: string | null
  trace_id: string | null
  tenant_id: string | null
  /** Every record of this job (absent in files of earlier versions: no such filter). */
  job_id?: string | null
  /** The decisions of jobs of this agent session (the session is a field of the job a decision records). */
  session_id?: string | null
}

export interface ExportHeader {
  kind: 'export'
  format: string
  exported_at: string
  filter: EvidenceFilter
  /** Set in an archive (`arbiter audit archive`): the records filed before this time left the database. */
  archive?: { before: string }
}
export interface RecordLine extends StoredRecord { kind: 'record', selected: boolean }
export interface CheckpointLine extends Checkpoint { kind: 'checkpoint' }

export interface LogSummary {
  first_seq: number
  last_seq: number
  records: number
  selected: number
  types: Record<string, number>
  checkpoints: number[]
  first_at: string | null
  last_at: string | null
}

export interface Problem { log?: string, seq?: number, line?: number, problem: string }

export interface Manifest {
  kind: 'manifest'
  format: string
  filter: EvidenceFilter
  period: { first_at: string | null, last_at: string | null }
  logs: Record<string, LogSummary>
  totals: { logs: number, records: number, selected: number, checkpoints: number, types: Record<string, number> }
  export: { scanned: number, failing: number, problems: Problem[] }
  /** `sha256:` + hex of the header line's text. */
  header_hash: string
  /** Each exported log's last record when it was exported (absent in files of earlier versions). */
  heads?: Record<string, { seq: number, hash: string }>
  /** The checkpoint key's Ed25519 signature (base64) of the manifest's canonical text without this field. */
  signature: { key_id: string, value: string }
}

export interface EvidenceKeys {
  /** Without HMAC keys, record signatures are not checked. */
  hmac?: ReadonlyMap<string, Buffer>
  publicKeys: ReadonlyMap<string, KeyObject | string>
}

export function headerLine (filter: EvidenceFilter, exportedAt: string, archive?: ExportHeader['archive']): string {
  return stableStringify({ kind: 'export', format: EVIDENCE_FORMAT, exported_at: exportedAt, filter, ...(archive === undefined ? {} : { archive }) } satisfies ExportHeader)
}

export function recordLine (r: StoredRecord, selected: boolean): string {
  const { tenant_id: t, seq, record, key_id: k, signature, prev_hash: p, hash } = r
  return stableStringify({ kind: 'record', tenant_id: t, seq, record, key_id: k, signature, prev_hash: p, hash, selected } satisfies RecordLine)
}

export function checkpointLine (c: Checkpoint): string {
  const { tenant_id: t, seq, head_hash: h, at, key_id: k, statement, signature } = c
  return stableStringify({ kind: 'checkpoint', tenant_id: t, seq, head_hash: h, at, key_id: k, statement, signature } satisfies CheckpointLine)
}

/** `sha256:` + hex of a line's text as written (without its newline). */
export function lineHash (text: string): string {
  return `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`
}

/** The manifest line, signed with the checkpoint key; `header` is the header line's text. */
export function manifestLine (filter: EvidenceFilter, tally: Tally, exported: Manifest['export'], header: string, heads: Manifest['heads'], signer: CheckpointKey): string {
  const unsigned: Omit<Manifest, 'signature'> = { kind: 'manifest', format: EVIDENCE_FORMAT, filter, ...tally.summary(), export: exported, header_hash: lineHash(header), heads }
  const value = sign(null, Buffer.from(stableStringify(unsigned), 'utf8'), signer.privateKey).toString('base64')
  return stableStringify({ ...unsigned, signature: { key_id: signer.id, value } } satisfies Manifest)
}

/** The problem with a manifest's signature, or null when a known checkpoint key made it. */
export function manifestSignatureProblem (m: Manifest, publicKeys: ReadonlyMap<string, KeyObject | string>): string | null {
  const sig = (m as Partial<Manifest>).signature
  if (!isObject(sig) || !isString(sig.key_id) || !isString(sig.value)) {
    return 'the manifest is not signed: nothing proves the file is whole (a log or the end of a run may have been cut and the counts fixed); export it again'
  }
  const pem = publicKeys.get(sig.key_id)
  if (pem === undefined) return `the manifest is signed with unknown key ${sig.key_id}`
  const { signature: _signature, ...unsigned } = m
  const key = typeof pem === 'string' ? createPublicKey(pem) : pem
  return verify(null, Buffer.from(stableStringify(unsigned), 'utf8'), key, Buffer.from(sig.value, 'base64'))
    ? null
    : 'the manifest\'s signature does not verify: the manifest was altered'
}

export function parseRecord (text: string): ParsedRecord | undefined {
  try {
    const p = JSON.parse(text) as ParsedRecord
    return typeof p === 'object' && p !== null && typeof p.at === 'string' ? p : undefined
  } catch {
    return undefined
  }
}

export function matchesFilter (p: ParsedRecord, f: EvidenceFilter): boolean {
  const at = Date.parse(p.at)
  return (f.tenant_id === null || p.log === f.tenant_id) &&
    (f.trace_id === null || p.trace_id === f.trace_id) &&
    ((f.job_id ?? null) === null || p.job_id === f.job_id) &&
    ((f.session_id ?? null) === null || (p.type === 'decision' && sessionOf(p) === f.session_id)) &&
    (f.since === null || at >= Date.parse(f.since)) &&
    (f.until === null || at < Date.parse(f.until))
}

function sessionOf (p: ParsedRecord): unknown {
  const job = p.body.job
  return typeof job === 'object' && job !== null ? (job as Record<string, unknown>).session_id : undefined
}

export function formatProblem (p: Problem): string {
  const where = p.log === undefined ? (p.line === undefined ? '' : `line ${p.line}`) : `log ${p.log}${p.seq === undefined ? '' : ` seq ${p.seq}`}`
  return where === '' ? p.problem : `${where}: ${p.problem}`
}

/** Checkpoint public keys (PEM; a private key yields its public half) by the id derived from each. */
export function publicKeyRing (pems: readonly string[]): Map<string, KeyObject> {
  const ring = new Map<string, KeyObject>()
  for (const pem of pems) {
    const key = createPublicKey(pem)
    if (key.asymmetricKeyType !== 'ed25519') throw new Error('a checkpoint key must be an Ed25519 key')
    ring.set(checkpointKeyId(key.export({ type: 'spki', format: 'der' })), key)
  }
  return ring
}

/** Counts what an export holds: the export builds its manifest with it, the verifier compares. */
export class Tally {
  // No prototype: tenant ids such as `toString` or `__proto__` are valid and must not collide.
  readonly logs: Record<string, LogSummary> = Object.create(null) as Record<string, LogSummary>

  private of (log: string, seq: number): LogSummary {
    const s = this.logs[log] ??= { first_seq: seq, last_seq: seq, records: 0, selected: 0, types: Object.create(null) as Record<string, number>, checkpoints: [], first_at: null, last_at: null }
    s.first_seq = Math.min(s.first_seq, seq)
    s.last_seq = Math.max(s.last_seq, seq)
    return s
  }

  record (r: StoredRecord, selected: boolean, parsed: ParsedRecord | undefined): void {
    const s = this.of(r.tenant_id, r.seq)
    s.records++
    if (!selected) return
    s.selected++
    if (parsed === undefined) return
    s.types[parsed.type] = (s.types[parsed.type] ?? 0) + 1
    s.first_at = pick(s.first_at, parsed.at)
    s.last_at = pick(s.last_at, parsed.at, true)
  }

  checkpoint (c: Checkpoint): void {
    this.of(c.tenant_id, c.seq).checkpoints.push(c.seq)
  }

  summary (): Pick<Manifest, 'period' | 'logs' | 'totals'> {
    const logs = Object.values(this.logs)
    const totals: Manifest['totals'] = { logs: logs.length, records: 0, selected: 0, checkpoints: 0, types: Object.create(null) as Record<string, number> }
    const period: Manifest['period'] = { first_at: null, last_at: null }
    for (const s of logs) {
      totals.records += s.records
      totals.selected += s.selected
      totals.checkpoints += s.checkpoints.length
      for (const [type, n] of Object.entries(s.types)) totals.types[type] = (totals.types[type] ?? 0) + n
      if (s.first_at !== null) period.first_at = pick(period.first_at, s.first_at)
      if (s.last_at !== null) period.last_at = pick(period.last_at, s.last_at, true)
    }
    return { period, logs: this.logs, totals }
  }
}

/** The earlier of two times, or with `later` the later one. */
function pick (a: string | null, b: string, later = false): string {
  if (a === null) return b
  const d = Date.parse(b) - Date.parse(a)
  return (later ? d > 0 : d < 0) ? b : a
}

/**
 * Checks one log's records and checkpoints in seq order. It goes on past a problem (from the
 * record as found) so that every failing record is counted; it keeps the first problem.
 */
export class LogAuditor {
  records = 0
  checkpoints = 0
  failing = 0
  first: Problem | undefined
  /** The last record seen. */
  head: { seq: number, hash: string }
  /** The newest checkpoint that vouched for the chain. */
  anchored: number | undefined
  /** Where the log's lines take up the chain: the seq and hash they continue from. */
  from: { seq: number, hash: string } | undefined
  private runStart: number | undefined
  private verifier: ChainVerifier | undefined

  /**
   * Without `start`, the first record's place is taken as given (an exported run), or from a
   * checkpoint that comes before any record (the log's start after an archive).
   */
  constructor (readonly log: string, private readonly keys: EvidenceKeys, private start?: { seq: number, prevHash: string }) {
    this.head = start === undefined ? { seq: 0, hash: '' } : { seq: start.seq - 1, hash: start.prevHash }
    if (start !== undefined) this.from = { ...this.head }
  }

  /** `extra` is a problem the caller found with the record. */
  record (r: StoredRecord, extra: string | null = null): void {
    this.records++
    this.runStart ??= r.seq
    this.from ??= { seq: r.seq - 1, hash: r.prev_hash }
    const v = this.verifier ?? new ChainVerifier(this.log, this.start ?? { seq: r.seq, prevHash: r.prev_hash }, this.keys.hmac)
    const p = v.next(r) ?? (extra === null ? null : { seq: r.seq, problem: extra })
    if (p !== null) this.fail(p.seq, p.problem)
    this.verifier = p === null ? v : new ChainVerifier(this.log, { seq: r.seq + 1, prevHash: r.hash }, this.keys.hmac)
    this.head = { seq: r.seq, hash: r.hash }
  }

  /** A checkpoint, right after the record at its seq. */
  checkpoint (c: Checkpoint): void {
    this.checkpoints++
    if (this.from === undefined && c.tenant_id === this.log) {
      // Before any record: the anchor the lines start from, if its signature holds.
      const problem = checkCheckpoint(c, this.keys.publicKeys)
      if (problem !== null) return this.fail(c.seq, problem)
      this.head = { seq: c.seq, hash: c.head_hash }
      this.from = { ...this.head }
      this.start = { seq: c.seq + 1, prevHash: c.head_hash }
      this.anchored = c.seq
      return
    }
    const problem = checkCheckpoint(c, this.keys.publicKeys) ?? this.placeOf(c)
    if (problem === null) this.anchored = c.seq
    else this.fail(c.seq > this.head.seq ? this.head.seq + 1 : c.seq, problem)
  }

  private placeOf (c: Checkpoint): string | null {
    if (c.tenant_id !== this.log) return `checkpoint of log ${c.tenant_id} in log ${this.log}`
    if (c.seq > this.head.seq) return `a checkpoint vouches for seq ${c.seq}, but the records stop at seq ${this.head.seq}: records were removed`
    if (c.seq < this.head.seq) return `checkpoint at seq ${c.seq} is out of place: the record it covers is missing`
    if (c.head_hash === this.head.hash) return null
    const from = Math.max(this.anchored ?? 0, (this.runStart ?? 1) - 1) + 1
    return `checkpoint does not vouch for this chain: a record from seq ${from} to ${c.seq} was rewritten`
  }

  fail (seq: number, problem: string): void {
    this.failing++
    this.first ??= { log: this.log, seq, problem }
  }

  /** Records after the last checkpoint that vouched for them. */
  get uncovered (): number {
    return this.runStart === undefined ? 0 : this.head.seq - Math.max(this.anchored ?? 0, this.runStart - 1)
  }
}

export interface VerifyReport {
  records: number
  checkpoints: number
  /** Records, checkpoints and lines that failed a check. */
  failing: number
  /** The first problem of each log, then problems of the file itself. */
  problems: Problem[]
  /** Records vouched for neither by a checkpoint nor (no HMAC keys given) by a signature check. */
  uncovered: number
}

const MAX_FILE_PROBLEMS = 20

/** What one file holds of a log: the seq and hash its lines continue from, and its last record. */
export interface LogSpan {
  from: { seq: number, hash: string }
  head: { seq: number, hash: string }
}

/**
 * Where files given in order (an archive, the next archive, an export of the live log) fail to
 * join: a log of a later file must continue exactly from where the last earlier file holding it
 * ended (same seq, same hash), and a log that continues from past seq 0 must be held by an
 * earlier file, unless it is in the first. Each file is verified on its own first.
 */
export function joinProblems (files: ReadonlyArray<{ name: string, spans: ReadonlyMap<string, LogSpan> }>): Problem[] {
  const reached = new Map<string, { seq: number, hash: string, file: string }>()
  const problems: Problem[] = []
  files.forEach((f, i) => {
    for (const [log, span] of [...f.spans].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)) {
      const before = reached.get(log)
      if (before !== undefined && (span.from.seq !== before.seq || span.from.hash !== before.hash)) {
        const missing = span.from.seq - before.seq
        const how = missing === 0
          ? ' with another hash: they are not one chain'
          : missing < 0 ? ': the two overlap' : missing === 1 ? `: seq ${span.from.seq} is in neither` : `: seqs ${before.seq + 1} to ${span.from.seq} are in neither`
        problems.push({ log, problem: `${f.name} continues from seq ${span.from.seq}, but ${before.file} ends at seq ${before.seq}${how}` })
      } else if (before === undefined && i > 0 && span.from.seq > 0) {
        problems.push({ log, problem: `${f.name} continues from seq ${span.from.seq}, but none of the files before it holds the log` })
      }
      reached.set(log, { ...span.head, file: f.name })
    }
  })
  return problems
}

/** Verifies an export fed line by line, offline. */
export class EvidenceVerifier {
  private readonly logs = new Map<string, LogAuditor>()
  private readonly tally = new Tally()
  private readonly problems: Problem[] = []
  private fileFailures = 0
  /** The header, and its line as read (the manifest signs its hash). */
  private header: (ExportHeader & { text: string }) | undefined
  private manifest: Manifest | undefined
  private lines = 0
  /** Hashes of the file's records at witnessed seqs, by log and seq. */
  private readonly atWitnessed = new Map<string, Map<number, string>>()
  private readonly witnessedSeqs: Set<string>

  /** `witnessed`: checkpoints from a witness file, signatures checked (audit/witness.ts). */
  constructor (private readonly keys: EvidenceKeys, private readonly witnessed?: readonly Checkpoint[]) {
    this.witnessedSeqs = new Set((witnessed ?? []).map((c) => `${c.tenant_id}\n${c.seq}`))
  }

  line (text: string): void {
    const line = ++this.lines
    let obj: { kind?: unknown } | null
    try {
      obj = JSON.parse(text) as { kind?: unknown } | null
    } catch {
      obj = null
    }
    const kind = obj?.kind
    if (line === 1 && !(kind === 'export' && isHeader(obj))) this.problem({ line, problem: 'the file does not start with an export header' })
    if (this.manifest !== undefined) return this.problem({ line, problem: 'a line follows the manifest' })
    if (kind === 'export' && line === 1 && isHeader(obj)) this.header = { ...obj, text }
    else if (kind === 'record' && isRecordLine(obj)) this.record(obj)
    else if (kind === 'checkpoint' && isCheckpointLine(obj)) this.checkpoint(obj)
    else if (kind === 'manifest' && isManifest(obj)) this.manifest = obj
    else this.problem({ line, problem: obj === null ? 'not a JSON object' : `not a valid ${String(kind ?? 'evidence')} line` })
  }

  finish (): VerifyReport {
    if (this.manifest === undefined) this.problem({ problem: 'no manifest line at the end: the file is incomplete' })
    else this.checkManifest(this.manifest)
    if (this.manifest !== undefined && this.witnessed !== undefined) this.checkWitnessed(this.manifest, this.witnessed)
    const auditors = [...this.logs.values()].sort((a, b) => a.log < b.log ? -1 : 1)
    const sum = (f: (a: LogAuditor) => number): number => auditors.reduce((n, a) => n + f(a), 0)
    return {
      records: sum((a) => a.records),
      checkpoints: sum((a) => a.checkpoints),
      failing: sum((a) => a.failing) + this.fileFailures,
      problems: [...auditors.flatMap((a) => a.first ?? []), ...this.problems],
      uncovered: this.keys.hmac === undefined ? sum((a) => a.uncovered) : 0
    }
  }

  /** Per log: where its lines continue the chain from, and where they end (after finish()). */
  spans (): Map<string, LogSpan> {
    const spans = new Map<string, LogSpan>()
    for (const a of this.logs.values()) if (a.from !== undefined) spans.set(a.log, { from: a.from, head: { ...a.head } })
    return spans
  }

  private auditor (log: string): LogAuditor {
    let a = this.logs.get(log)
    if (a === undefined) this.logs.set(log, a = new LogAuditor(log, this.keys))
    return a
  }

  private record (r: RecordLine): void {
    if (this.witnessedSeqs.has(`${r.tenant_id}\n${r.seq}`)) {
      const seqs = this.atWitnessed.get(r.tenant_id) ?? new Map<number, string>()
      this.atWitnessed.set(r.tenant_id, seqs.set(r.seq, r.hash))
    }
    const parsed = parseRecord(r.record)
    const filter = this.header?.filter
    const matches = parsed === undefined || filter === undefined ? r.selected : matchesFilter(parsed, filter)
    this.auditor(r.tenant_id).record(r, matches === r.selected ? null : `marked ${r.selected ? '' : 'not '}selected, but the record does ${matches ? '' : 'not '}match the export's filter`)
    this.tally.record(r, r.selected, parsed)
  }

  private checkpoint (c: CheckpointLine): void {
    this.auditor(c.tenant_id).checkpoint(c)
    this.tally.checkpoint(c)
  }

  private checkManifest (m: Manifest): void {
    // Signed first: unless the checkpoint key made the manifest, its counts prove nothing.
    const unsigned = manifestSignatureProblem(m, this.keys.publicKeys)
    if (unsigned !== null) this.problem({ problem: unsigned })
    else if (this.header === undefined || m.header_hash !== lineHash(this.header.text)) this.problem({ problem: 'the header is not the one the manifest was signed with' })
    if (m.format !== EVIDENCE_FORMAT) this.problem({ problem: `manifest: unknown format ${String(m.format)}` })
    if (stableStringify(m.filter) !== stableStringify(this.header?.filter)) this.problem({ problem: 'manifest: its filter is not the header\'s' })
    const mine = this.tally.summary()
    for (const log of new Set([...Object.keys(m.logs), ...Object.keys(mine.logs)])) {
      const theirs = Object.hasOwn(m.logs, log) ? m.logs[log] : undefined
      if (theirs === undefined || mine.logs[log] === undefined) {
        this.problem({ log, problem: `the manifest ${theirs === undefined ? 'omits the log' : 'lists the log, the file has no line of it'}` })
        continue
      }
      this.compare(mine.logs[log], theirs, { log })
    }
    this.compare(mine.totals, m.totals, { prefix: 'totals.' })
    this.compare(mine.period, m.period, { prefix: 'period.' })
    if (m.export.failing !== 0) {
      const first = m.export.problems?.[0]
      this.problem({ problem: `the export found ${m.export.failing} failing${first === undefined ? '' : `, first ${formatProblem(first)}`}` })
    }
  }

  /**
   * Every checkpoint witnessed before the export, of a log the export covers, must be within
   * the log as the signed manifest says it was exported, and agree with its record there.
   */
  private checkWitnessed (m: Manifest, witnessed: readonly Checkpoint[]): void {
    const exportedAt = Date.parse(this.header?.exported_at ?? '')
    const tenant = this.header?.filter.tenant_id ?? null
    if (m.heads === undefined) return this.problem({ problem: 'the manifest names no log heads (a file of an earlier version): the witness cannot be checked against it' })
    for (const c of witnessed) {
      if ((tenant !== null && c.tenant_id !== tenant) || !(Date.parse(c.at) <= exportedAt)) continue
      const head = Object.hasOwn(m.heads, c.tenant_id) ? m.heads[c.tenant_id] : undefined
      // An archive stops at its cut by design: a checkpoint witnessed past it is the live log's.
      if (this.header?.archive !== undefined && (head === undefined || c.seq > head.seq)) continue
      const problem = witnessProblem(c, { head, hashAt: (seq) => this.atWitnessed.get(c.tenant_id)?.get(seq) })
      if (problem !== null) this.problem({ log: c.tenant_id, seq: c.seq, problem })
    }
  }

  private compare<T extends object> (mine: T, theirs: T, where: { log?: string, prefix?: string }): void {
    for (const [key, value] of Object.entries(mine)) {
      const claimed = (theirs as Record<string, unknown>)?.[key]
      if (stableStringify(value) === stableStringify(claimed ?? null)) continue
      const problem = `the manifest says ${where.prefix ?? ''}${key} ${stableStringify(claimed ?? null)}, the file has ${stableStringify(value)}`
      this.problem(where.log === undefined ? { problem } : { log: where.log, problem })
    }
  }

  private problem (p: Problem): void {
    this.fileFailures++
    if (this.problems.length < MAX_FILE_PROBLEMS) this.problems.push(p)
  }
}

const isString = (v: unknown): v is string => typeof v === 'string'
const isSeq = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 1
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null

function isHeader (o: unknown): o is ExportHeader {
  return isObject(o) && o.format === EVIDENCE_FORMAT && isString(o.exported_at) && isObject(o.filter)
}

function isRecordLine (o: unknown): o is RecordLine {
  return isObject(o) && isString(o.tenant_id) && isSeq(o.seq) && isString(o.record) && isString(o.key_id) &&
    isString(o.signature) && isString(o.prev_hash) && isString(o.hash) && typeof o.selected === 'boolean'
}

function isCheckpointLine (o: unknown): o is CheckpointLine {
  return isObject(o) && isString(o.tenant_id) && isSeq(o.seq) && isString(o.head_hash) && isString(o.at) &&
    isString(o.key_id) && isString(o.statement) && isString(o.signature)
}

function isManifest (o: unknown): o is Manifest {
  return isObject(o) && isObject(o.logs) && isObject(o.totals) && isObject(o.period) && isObject(o.export) && typeof o.export.failing === 'number'
}

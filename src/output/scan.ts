/**
 * The output-safety gate: scan a job's output, redact what was found, and pick a verdict.
 * Pure: no I/O, no clock; the same output gives the same findings, redaction and verdict.
 */
import { Buffer } from 'node:buffer'
import { detectFindings, FINDING_TYPES, type Finding, type FindingType } from './detectors.js'
import type { DetectorVerdict, PatternDetector } from './pattern-detectors.js'

export interface ScanOptions {
  maxBytes: number
  /** The policy's own detectors, run after the built-in ones. */
  detectors?: readonly PatternDetector[]
}
export interface ScanResult {
  findings: Finding[]
  scannedBytes: number
  /** UTF-16 length of the scanned prefix: `output.slice(0, scannedLength)` is what the findings index into. */
  scannedLength: number
  totalBytes: number
  truncated: boolean
}

/** The longest prefix of `text` that is at most `maxBytes` in UTF-8, never splitting a character. */
function utf8Prefix (text: string, maxBytes: number): { length: number, bytes: number } {
  let bytes = 0
  let i = 0
  while (i < text.length) {
    const c = text.charCodeAt(i)
    const pair = c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00
    // A lone surrogate is written as U+FFFD (3 bytes), as Buffer.byteLength counts it.
    const size = pair ? 4 : c < 0x80 ? 1 : c < 0x800 ? 2 : 3
    if (bytes + size > maxBytes) break
    bytes += size
    i += pair ? 2 : 1
  }
  return { length: i, bytes }
}

/** Scans at most maxBytes UTF-8 bytes of output (cut at a character boundary) with the built-in and the given detectors; findings sorted by start, overlapping findings of different types all kept. */
export function scanOutput (output: string, options: ScanOptions): ScanResult {
  if (!(options.maxBytes >= 0)) throw new RangeError(`maxBytes must be a non-negative number, got ${String(options.maxBytes)}`)
  const totalBytes = Buffer.byteLength(output, 'utf8')
  const cut = totalBytes <= options.maxBytes ? { length: output.length, bytes: totalBytes } : utf8Prefix(output, options.maxBytes)
  return {
    findings: detectFindings(cut.length === output.length ? output : output.slice(0, cut.length), options.detectors),
    scannedBytes: cut.bytes,
    scannedLength: cut.length,
    totalBytes,
    truncated: cut.bytes < totalBytes
  }
}

interface Redaction { start: number, end: number, type: string, width: number }

/** Built-in types in FINDING_TYPES order, then policy detectors' ids. */
const rankOf = (type: string): number => {
  const rank = (FINDING_TYPES as readonly string[]).indexOf(type)
  return rank === -1 ? FINDING_TYPES.length : rank
}

/** Overlapping findings become one span (their union), labelled with the widest finding's type. */
function mergeSpans (findings: readonly Finding[], length: number): Redaction[] {
  const spans = findings
    .map((f) => ({ type: f.type, start: Math.max(0, f.start), end: Math.min(length, f.end), rank: rankOf(f.type) }))
    .filter((f) => f.end > f.start)
    .sort((a, b) => a.start - b.start || b.end - a.end || a.rank - b.rank || (a.type < b.type ? -1 : a.type > b.type ? 1 : 0))
  const merged: Redaction[] = []
  for (const { type, start, end } of spans) {
    const last = merged[merged.length - 1]
    if (last === undefined || start >= last.end) {
      merged.push({ start, end, type, width: end - start })
      continue
    }
    // Ties keep the earlier label, so the result does not depend on the input order.
    if (end - start > last.width) {
      last.type = type
      last.width = end - start
    }
    last.end = Math.max(last.end, end)
  }
  return merged
}

/** Replaces each finding's span with `[REDACTED:<type>]`, merging overlaps (the widest span wins); text beyond a truncated scan is NOT included — the caller decides. */
export function redactOutput (output: string, findings: readonly Finding[]): string {
  const parts: string[] = []
  let at = 0
  for (const span of mergeSpans(findings, output.length)) {
    parts.push(output.slice(at, span.start), `[REDACTED:${span.type}]`)
    at = span.end
  }
  parts.push(output.slice(at))
  return parts.join('')
}

export const VERDICTS = ['ALLOW', 'REDACT', 'QUARANTINE'] as const
export type OutputVerdict = typeof VERDICTS[number]
export type FindingVerdicts = Readonly<Record<FindingType, DetectorVerdict>>
/** A verdict per finding type: the built-in ones and each policy detector's id. */
export type VerdictTable = Readonly<Record<string, DetectorVerdict>>

const SEVERITY: ReadonlyMap<string, number> = new Map([['allow', 0], ['redact', 1], ['quarantine', 2]])

/**
 * The most restrictive verdict over all findings (QUARANTINE > REDACT > ALLOW); no findings → ALLOW. Returns which
 * finding types led to it: built-in types in FINDING_TYPES order, then policy detectors' ids in alphabetical order.
 */
export function outputVerdict (findings: readonly Finding[], verdicts: VerdictTable): { verdict: OutputVerdict, because: string[] } {
  // Verdict tables may come from configuration: a value outside the three, or a type without one, fails closed.
  const severity = (type: string): number => SEVERITY.get(verdicts[type]) ?? 2
  const present = new Set(findings.map((f) => f.type))
  const worst = Math.max(0, ...[...present].map(severity))
  const because = [...present].filter((type) => severity(type) === worst).sort((a, b) => rankOf(a) - rankOf(b) || (a < b ? -1 : 1))
  return { verdict: VERDICTS[worst], because }
}

export interface FindingSummary { type: string, line: number, column: number, start: number, end: number }

/** Findings as an API response or audit record carries them: positions only, never the matched text. */
export function summarizeFindings (findings: readonly Finding[]): FindingSummary[] {
  return findings.map(({ type, line, column, start, end }) => ({ type, line, column, start, end }))
}

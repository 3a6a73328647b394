/**
 * Checkpoints as witnessed outside the database (see ledger/witness.ts), and what they prove of
 * a log or an export: a log whose records stop before a witnessed checkpoint was rolled back or
 * cut, and one whose record at a witnessed seq has another hash was rewritten, whatever the
 * database's own checkpoints now say. Pure: no I/O.
 */
import stableStringify from 'fast-json-stable-stringify'
import { checkCheckpoint, type Checkpoint } from './checkpoint.js'
import type { KeyObject } from 'node:crypto'

/** One line of a witness file: the checkpoint as stored, marked as one. */
export function witnessLine (c: Checkpoint): string {
  const { tenant_id: t, seq, head_hash: h, at, key_id: k, statement, signature } = c
  return stableStringify({ kind: 'checkpoint', tenant_id: t, seq, head_hash: h, at, key_id: k, statement, signature })
}

/** The checkpoints of a witness file whose signatures hold, and a problem for each line that is not one. */
export function readWitness (text: string, publicKeys: ReadonlyMap<string, KeyObject | string>): { checkpoints: Checkpoint[], problems: string[] } {
  const checkpoints: Checkpoint[] = []
  const problems: string[] = []
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return
    let c: Checkpoint | undefined
    try {
      const o = JSON.parse(line) as Record<string, unknown>
      if (o.kind === 'checkpoint' && typeof o.tenant_id === 'string' && Number.isSafeInteger(o.seq) && typeof o.head_hash === 'string' &&
        typeof o.at === 'string' && typeof o.key_id === 'string' && typeof o.statement === 'string' && typeof o.signature === 'string') c = o as unknown as Checkpoint
    } catch {}
    const problem = c === undefined ? 'not a checkpoint' : checkCheckpoint(c, publicKeys)
    if (problem !== null || c === undefined) problems.push(`witness line ${i + 1}: ${problem ?? 'not a checkpoint'}`)
    else checkpoints.push(c)
  })
  return { checkpoints, problems }
}

/** What is known of a log at one seq: the hash of its record there (undefined when not known). */
export interface LogView {
  /** The log's last record, as the database or the export's signed manifest says. */
  head: { seq: number, hash: string } | undefined
  hashAt: (seq: number) => string | undefined
}

/** The problem a witnessed checkpoint finds with a log, or null when the log agrees with it. */
export function witnessProblem (c: Checkpoint, view: LogView): string | null {
  const where = `the checkpoint witnessed for log ${c.tenant_id} at seq ${c.seq} (signed ${c.at})`
  if (view.head === undefined || view.head.seq < c.seq) {
    return `the log stops at seq ${view.head?.seq ?? 0}, behind ${where}: it was rolled back or cut`
  }
  const hash = c.seq === view.head.seq ? view.head.hash : view.hashAt(c.seq)
  if (hash !== undefined && hash !== c.head_hash) return `the record at seq ${c.seq} is not the one in ${where}: the log was rewritten`
  return null
}

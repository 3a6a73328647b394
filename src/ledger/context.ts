/**
 * The shapes the writer's parts share: its options and counters, an append waiting to commit, a
 * log's head, and the context a group commits in. Types only, so every part can lean on them.
 */
import type { FastifyBaseLogger as Logger } from 'fastify'
import type { AuditEntry, HmacSigningKey, SealedRecord } from '../audit/chain.js'
import type { Database, Queryable } from '../store/db.js'
import type { Signal } from './lane.js'

export interface WriterOptions {
  maxBatch?: number
  /** Appends waiting at most, over all tenants; past it an append fails at once. */
  maxQueue?: number
  log?: Pick<Logger, 'warn' | 'error'>
  /** Told after each committed group (checkpointing hooks in here). */
  /** `from` is the head the group was appended onto, `head` the one it left. */
  onCommit?: (tenantId: string, from: { seq: number, hash: string }, head: { seq: number, hash: string }) => void
  /** Told of records that committed after their callers had been answered (503): late commits. */
  onLateCommit?: (tenantId: string, records: SealedRecord[]) => void
  /** Told after each group's transaction ends, with how many records it held and how long it took. */
  onGroup?: (outcome: 'committed' | 'failed', records: number, ms: number) => void
}

export interface WriterStats {
  groups: number
  records: number
  failedGroups: number
  expired: number
  lateCommits: number
  /** Records whose COMMIT answer was lost and could not be read back (should stay 0). */
  inDoubt: number
  /** Groups whose COMMIT answer was lost but were found committed when read back. */
  recoveredCommits: number
  /** Appends sent again because their group rolled back after another caller in it was answered. */
  requeued: number
  /** Groups sealed again under the head lock because the head they were sealed on moved. */
  resealed: number
  /** Transactions whose work refused (threw): undone alone, the rest of their group went on. */
  refused: number
}

/** An append waiting to commit, from the queue to its group's end. */
export interface Pending {
  /** What it appends: one entry, or (for a transaction) what its work returns. */
  entries: AuditEntry[]
  deadline: number
  work?: (tx: Queryable) => Promise<AuditEntry[]>
  /** Whether a throwing work is refused alone (in a savepoint) or fails its group. */
  kind?: 'refusable' | 'total'
  /** A work that reads no log records: it may share its group with others like it (grouping.ts). */
  shares?: boolean
  /** Its first statement, sent in one with those of the group's other works that have the same (transaction.ts). */
  opening?: PendingOpening
  /** Set when the work threw (the caller is answered with it) or was not run: nothing of it commits. */
  refusal?: Error
  /** Its work or opening failed and took the group's transaction down: it is answered, the rest go again. */
  brokeGroup?: boolean
  settled: boolean
  timer: NodeJS.Timeout
  resolve: (r: SealedRecord[]) => void
  reject: (err: Error) => void
}

/**
 * A transaction's first statement, made for many: `batch` is called once for the inputs of all
 * the works of a group that name it, in one statement, before any of them runs.
 */
export interface Opening<I, O> {
  /** One output per input, in order. The same function for every work it is to be batched for. */
  batch: (tx: Queryable, inputs: I[]) => Promise<O[]>
  input: I
  /** Told its output before the work runs; true if that decided the work, which then reads nothing more. */
  opened: (output: O) => boolean
}

/** An opening as a group holds it, whatever its types. */
export type PendingOpening = Opening<unknown, unknown>

/** What committing a group needs of the writer it belongs to. */
export interface WriterContext {
  readonly db: Database
  readonly key: HmacSigningKey
  readonly options: WriterOptions
  readonly stats: WriterStats
  /** Each log's head as the group this writer sealed last will leave it. */
  readonly heads: Map<string, Head>
  /** Puts appends back at the front of their log's queue, to go in a later group. */
  readonly requeue: (tenantId: string, live: Pending[]) => void
}

/** Told how a group's transaction ended. */
export type Report = (outcome: 'committed' | 'failed') => void

export interface Head {
  seq: number
  hash: string
  /**
   * Fires once the append of the group that leaves this head has returned (or that group has
   * ended): a group sealed on it sends its own append only then, so that it never reaches the
   * server first and finds the head behind.
   */
  appended?: Signal
}

/**
 * Signs checkpoints of every log: when a log has grown by `everyRecords` since its last
 * checkpoint (seen on this instance's commits), and on a timer for any log with records not yet
 * covered (which also covers records other instances wrote). Two instances checkpointing the
 * same head store it once.
 */
import type { FastifyBaseLogger as Logger } from 'fastify'
import { ChainVerifier, GENESIS_HASH } from '../audit/chain.js'
import { checkCheckpoint, signCheckpoint, type Checkpoint, type CheckpointKey } from '../audit/checkpoint.js'
import type { Clock } from '../clock.js'
import { readLog } from '../store/log-read.js'
import type { Database } from '../store/db.js'
import { insertCheckpoint, latestCheckpoint, latestCheckpoints } from '../store/checkpoints.js'

interface Head {
  seq: number
  hash: string
}

export interface CheckpointerOptions {
  everyRecords: number
  intervalMs: number
  /** Every HMAC key the log may be signed with: records are verified before a checkpoint vouches for them. */
  hmacKeys: ReadonlyMap<string, Buffer>
  /** Told of each checkpoint once it is stored (the witnesses publish it). */
  onSigned?: (c: Checkpoint) => void
}

export class Checkpointer {
  private readonly covered = new Map<string, number>()
  private readonly scheduled = new Map<string, number>()
  /** Per log, the newest run of this writer's own consecutive commits. */
  private readonly runs = new Map<string, { start: Head, end: Head, verified: boolean }>()
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> = Promise.resolve()
  written = 0
  refused = 0

  constructor (
    private readonly db: Database,
    private readonly key: CheckpointKey,
    private readonly clock: Clock,
    private readonly options: CheckpointerOptions,
    private readonly log: Pick<Logger, 'error'>
  ) {}

  async start (): Promise<void> {
    for (const [tenant, seq] of await latestCheckpoints(this.db)) this.covered.set(tenant, seq)
    this.timer = setInterval(() => { this.enqueue(async () => await this.sweep()) }, this.options.intervalMs)
    this.timer.unref()
  }

  /** Called after each committed group of a log. */
  onCommit (tenantId: string, from: Head, head: Head): void {
    // Groups this writer appended one onto the other form a run it needs not re-read: only the
    // run's start must be verified. Anything else in between (another instance's records, rows
    // written around Arbiter) starts a new run.
    const run = this.runs.get(tenantId)
    if (run !== undefined && run.end.seq === from.seq && run.end.hash === from.hash) run.end = head
    else this.runs.set(tenantId, { start: from, end: head, verified: false })
    const last = Math.max(this.covered.get(tenantId) ?? 0, this.scheduled.get(tenantId) ?? 0)
    if (head.seq - last < this.options.everyRecords) return
    this.scheduled.set(tenantId, head.seq)
    this.enqueue(async () => await this.checkpoint(tenantId, head))
  }

  /** Checkpoints every log whose head is not covered yet. */
  async sweep (): Promise<void> {
    const { rows } = await this.db.query<{ tenant_id: string, seq: number, hash: string }>('select tenant_id, seq::int as seq, hash from audit_heads where seq > 0')
    for (const r of rows) {
      if (r.seq > (this.covered.get(r.tenant_id) ?? 0)) await this.checkpoint(r.tenant_id, r)
    }
  }

  /** Waits for checkpoints under way (tests, shutdown). */
  async idle (): Promise<void> {
    await this.running
  }

  /** Stops the timer and, on the way out, checkpoints what is not covered yet. */
  async close (): Promise<void> {
    clearInterval(this.timer)
    this.enqueue(async () => await this.sweep())
    await this.idle()
  }

  private enqueue (job: () => Promise<void>): void {
    // One at a time, in order; a failure is logged and the next due checkpoint retries it.
    this.running = this.running.then(job).catch((err: unknown) => this.log.error({ err }, 'checkpoint failed'))
  }

  private async checkpoint (tenantId: string, head: { seq: number, hash: string }): Promise<void> {
    // A checkpoint vouches for everything before it, so it is signed only over records verified
    // here — chained, signed with a known HMAC key — from the last checkpoint this key signed.
    // Rows someone wrote straight into the database are refused, not blessed.
    const run = this.runs.get(tenantId)
    let problem: { seq: number, problem: string } | null
    if (run !== undefined && run.end.seq >= head.seq) {
      // The head to sign is the end of this writer's own run: verify what lies before the run.
      problem = run.verified ? null : await this.verifySince(tenantId, run.start)
      if (problem === null) run.verified = true
      head = { ...run.end }
    } else {
      problem = await this.verifySince(tenantId, head)
    }
    if (problem !== null) {
      this.refused++
      this.log.error({ tenantId, seq: problem.seq, problem: problem.problem }, 'refusing to checkpoint a log that does not verify')
      return
    }
    const c = signCheckpoint(this.key, { tenantId, seq: head.seq, hash: head.hash, at: this.clock.now().toISOString() })
    await insertCheckpoint(this.db, c)
    this.covered.set(tenantId, Math.max(head.seq, this.covered.get(tenantId) ?? 0))
    this.written++
    this.options.onSigned?.(c)
  }

  private async verifySince (tenantId: string, head: { seq: number, hash: string }): Promise<{ seq: number, problem: string } | null> {
    // The last checkpoint is a starting point only if this key's signature on it holds; else
    // (a forged row, a rotated key) the log is verified from its first record.
    const last = await latestCheckpoint(this.db, tenantId, head.seq)
    const trusted = last !== undefined && checkCheckpoint(last, new Map([[this.key.id, this.key.publicKey]])) === null ? last : undefined
    const verifier = new ChainVerifier(tenantId, { seq: (trusted?.seq ?? 0) + 1, prevHash: trusted?.head_hash ?? GENESIS_HASH }, this.options.hmacKeys)
    for (let from = verifier.head.seq + 1; from <= head.seq;) {
      const rows = await readLog(this.db, tenantId, from, head.seq, 1000)
      if (rows.length === 0) return { seq: from, problem: 'records are missing below the head' }
      for (const r of rows) {
        const problem = verifier.next(r)
        if (problem !== null) return problem
      }
      from = verifier.head.seq + 1
    }
    return verifier.head.hash === head.hash ? null : { seq: head.seq, problem: 'the head hash is not the last record\'s' }
  }
}

/**
 * Witnesses: every signed checkpoint is also published outside the database, so that someone
 * who can rewrite the database (delete the log's tail back to an earlier checkpoint, and the
 * checkpoints after it) cannot also unsay what was witnessed. A file witness appends one JSON
 * line per checkpoint and syncs it to disk; a URL witness POSTs the checkpoint as JSON, retried
 * with backoff from a bounded queue. A witness that fails never holds up a check: its failures
 * are counted and logged, and `arbiter audit verify --witness` reads the file back.
 */
import { open } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyBaseLogger as Logger } from 'fastify'
import { witnessLine } from '../audit/witness.js'
import type { Checkpoint } from '../audit/checkpoint.js'

export type WitnessKind = 'file' | 'url'

export interface WitnessOptions {
  file?: string
  url?: string
  /** Told of each checkpoint a witness could not take (after its retries), or dropped when its queue was full. */
  onFailure?: (witness: WitnessKind) => void
  log: Pick<Logger, 'warn' | 'error'>
  /** Checkpoints waiting for the URL, at most; past it the oldest is dropped (and counted). */
  maxQueue?: number
  /** Attempts per checkpoint at the URL, and the wait before the second (doubling). */
  attempts?: number
  backoffMs?: number
  timeoutMs?: number
}

export class Witnesses {
  private fileChain: Promise<void> = Promise.resolve()
  private readonly queue: Checkpoint[] = []
  private posting: Promise<void> | undefined
  private closed = false

  constructor (private readonly o: WitnessOptions) {}

  /** Publishes a checkpoint that was just stored; never throws. */
  publish (c: Checkpoint): void {
    if (this.o.file !== undefined) this.fileChain = this.fileChain.then(async () => await this.toFile(this.o.file as string, c))
    if (this.o.url !== undefined) {
      if (this.queue.length >= (this.o.maxQueue ?? 1000)) {
        const dropped = this.queue.shift() as Checkpoint
        this.failed('url', { tenantId: dropped.tenant_id, seq: dropped.seq }, new Error('witness queue full'))
      }
      this.queue.push(c)
      this.posting ??= this.drain().finally(() => { this.posting = undefined })
    }
  }

  /** Waits for what was published so far (tests, shutdown); the URL queue gives up at close. */
  async idle (): Promise<void> {
    await this.fileChain
    await this.posting
  }

  async close (): Promise<void> {
    this.closed = true
    await this.idle()
  }

  private async toFile (file: string, c: Checkpoint): Promise<void> {
    try {
      const handle = await open(file, 'a', 0o600)
      try {
        await handle.write(witnessLine(c) + '\n')
        await handle.datasync()
      } finally {
        await handle.close()
      }
    } catch (err) {
      this.failed('file', { tenantId: c.tenant_id, seq: c.seq }, err)
    }
  }

  private async drain (): Promise<void> {
    for (let c = this.queue.shift(); c !== undefined; c = this.queue.shift()) await this.toUrl(this.o.url as string, c)
  }

  private async toUrl (url: string, c: Checkpoint): Promise<void> {
    const attempts = this.o.attempts ?? 5
    let wait = this.o.backoffMs ?? 1000
    let last: unknown
    for (let i = 0; i < attempts && !(this.closed && i > 0); i++) {
      if (i > 0) {
        await sleep(wait)
        wait *= 2
      }
      try {
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: witnessLine(c), signal: AbortSignal.timeout(this.o.timeoutMs ?? 5000) })
        await res.body?.cancel()
        if (res.ok) return
        last = new Error(`the witness answered ${res.status}`)
      } catch (err) {
        last = err
      }
    }
    this.failed('url', { tenantId: c.tenant_id, seq: c.seq }, last)
  }

  private failed (witness: WitnessKind, where: { tenantId: string, seq: number }, err: unknown): void {
    this.o.onFailure?.(witness)
    this.o.log.error({ err, witness, ...where }, 'a checkpoint could not be witnessed')
  }
}

/**
 * Replays asked for over HTTP (POST /policies/replay): each runs in this process, off the request
 * that started it, in slices that give the event loop back (replayer.ts), bounded in time; its
 * progress and result are read back by id. Few at once, and results are kept for an hour.
 */
import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { FastifyBaseLogger as Logger } from 'fastify'
import type { Clock } from '../clock.js'
import type { CompiledPolicy } from '../policy/index.js'
import type { Queryable } from '../store/db.js'
import { replayDecisions, type ReplayResult, type ReplayWindow } from './replayer.js'
import type { FailOn } from './tally.js'

export type ReplayStatus = 'running' | 'done' | 'failed'

export interface ReplayRun {
  replay_id: string
  /** The key that asked: only it (or an admin) reads the run. */
  owner: string
  status: ReplayStatus
  candidate_snapshot: string
  window: { since: string | null, until: string | null, tenant_id: string | null }
  started_at: string
  finished_at: string | null
  judged: number
  result: ReplayResult | null
  /** Why a failed run failed (the database, most likely); details are in the service's log. */
  error: string | null
}

export interface ReplayRequest extends ReplayWindow {
  owner: string
  candidate: CompiledPolicy
  failOn: readonly FailOn[]
  examplesPerCell: number
  maxSeconds: number
}

export const MAX_RUNNING_REPLAYS = 2
const KEEP_MS = 3_600_000
const KEEP_RUNS = 50

export class ReplayRuns {
  private readonly runs = new Map<string, ReplayRun>()
  private readonly running = new Set<AbortController>()

  constructor (private readonly db: Queryable, private readonly clock: Clock, private readonly log: Pick<Logger, 'info' | 'error'>) {}

  /** Starts a replay and returns its run at once; undefined when MAX_RUNNING_REPLAYS are running. */
  start (req: ReplayRequest): ReplayRun | undefined {
    if (this.running.size >= MAX_RUNNING_REPLAYS) return undefined
    this.prune()
    const run: ReplayRun = {
      replay_id: randomUUID(),
      owner: req.owner,
      status: 'running',
      candidate_snapshot: req.candidate.snapshotId,
      window: { since: req.since ?? null, until: req.until ?? null, tenant_id: req.tenantId ?? null },
      started_at: this.clock.now().toISOString(),
      finished_at: null,
      judged: 0,
      result: null,
      error: null
    }
    this.runs.set(run.replay_id, run)
    const controller = new AbortController()
    this.running.add(controller)
    const { owner: _owner, maxSeconds, ...options } = req
    replayDecisions(this.db, { ...options, deadline: performance.now() + maxSeconds * 1000, signal: controller.signal, onProgress: (n) => { run.judged = n } })
      .then((result) => {
        Object.assign(run, { status: 'done', result, judged: result.judged })
        this.log.info({ replayId: run.replay_id, judged: result.judged, changed: result.changed, complete: result.complete }, 'policy replay finished')
      }, (err: unknown) => {
        Object.assign(run, { status: 'failed', error: 'the replay could not read the log; see the service log' })
        this.log.error({ err, replayId: run.replay_id }, 'policy replay failed')
      })
      .finally(() => {
        run.finished_at = this.clock.now().toISOString()
        this.running.delete(controller)
      })
    return run
  }

  get (replayId: string): ReplayRun | undefined {
    this.prune()
    return this.runs.get(replayId)
  }

  /** Stops every running replay (at shutdown); each ends with what it judged so far. */
  close (): void {
    for (const c of this.running) c.abort()
  }

  /** Finished runs go after an hour, and the oldest when there are too many. */
  private prune (): void {
    const now = this.clock.now().getTime()
    const finished = [...this.runs.values()].filter((r) => r.finished_at !== null)
    for (const r of finished) if (now - Date.parse(r.finished_at as string) > KEEP_MS) this.runs.delete(r.replay_id)
    const excess = this.runs.size - KEEP_RUNS
    for (const r of finished.filter((x) => this.runs.has(x.replay_id)).slice(0, Math.max(0, excess))) this.runs.delete(r.replay_id)
  }
}

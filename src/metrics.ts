/**
 * The Prometheus series Arbiter exposes on GET /metrics. One registry per app (never the
 * process-global one), so two apps in one process, as in tests, do not share counters.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { AuthFailure } from './auth/plugin.js'
import type { WriterStats } from './ledger/writer.js'
import type { PoolStats } from './store/db.js'

/** From 0.5 ms (a decision that waits on nothing) to the 2 s scheduler deadline and past it. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 5]
export interface ApprovalQueue {
  tenant: string
  pending: number
  oldestAgeSec: number
}

const GROUP_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256]

export interface CheckpointLag {
  tenant: string
  /** Seconds since the log's newest checkpoint was signed; undefined when it has none yet. */
  ageSec: number | undefined
  uncovered: number
}

/** What the series read from their owners at scrape time. */
export interface MetricSources {
  policyReloadFailures: () => number
  /** The snapshot id of the policy in force, once one is. */
  policySnapshot: () => string | undefined
  pendingAppends: () => number
  writerStats: () => Readonly<WriterStats>
  approvalQueues: () => Promise<ApprovalQueue[]>
  checkpointLags: () => Promise<CheckpointLag[]>
  /** Absent on the embedded database, which has no pool. */
  poolStats?: () => PoolStats
  /** Notification events not yet routed (`outbox`) and deliveries not yet done (`pending`). */
  notificationBacklog?: () => Promise<{ outbox: number, pending: number }>
  /** Seconds from now to the end of the audit log's last partition; undefined when unknown. */
  partitionsAheadSec?: () => Promise<number | undefined>
}

/** `read` shared by the gauges of one scrape: they all come from one query. */
function oncePerScrape<T> (read: () => Promise<T>): () => Promise<T> {
  let last: Promise<T> | undefined
  return async () => {
    last ??= read().finally(() => setImmediate(() => { last = undefined }))
    return await last
  }
}

/** A gauge by tenant, one series per row read at scrape time; a row whose value is undefined has none. */
function tenantGauge<T extends { tenant: string }> (registers: Registry[], name: string, help: string, rows: () => Promise<T[]>, value: (row: T) => number | undefined): void {
  new Gauge({ // eslint-disable-line no-new
    name,
    help,
    labelNames: ['tenant'],
    registers,
    async collect () {
      this.reset()
      for (const row of await rows()) {
        const v = value(row)
        if (v !== undefined) this.set({ tenant: row.tenant }, v)
      }
    }
  })
}

export class Metrics {
  readonly registry = new Registry()
  readonly decisions: Counter<'decision' | 'rule_id'>
  readonly checkDuration: Histogram<'status'>
  readonly recordGroupDuration: Histogram<'outcome'>
  readonly recordGroupSize: Histogram<'outcome'>
  readonly authFailures: Counter<'reason'>
  readonly violations: Counter<'tenant' | 'kind'>
  readonly witnessFailures: Counter<'witness'>
  readonly shadowEvaluations: Counter<string>
  readonly shadowDisagreements: Counter<'live' | 'candidate' | 'rule'>
  readonly notificationDeliveries: Counter<'event' | 'outcome'>
  readonly notificationLatency: Histogram<string>
  private readonly loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 })

  constructor (sources: MetricSources) {
    const registers = [this.registry]
    this.decisions = new Counter({
      name: 'arbiter_decisions_total',
      help: 'Decisions recorded and returned by POST /check, by decision and deciding rule ("none": no rule matched).',
      labelNames: ['decision', 'rule_id'],
      registers
    })
    this.checkDuration = new Histogram({
      name: 'arbiter_check_duration_seconds',
      help: 'Time from the arrival of a POST /check to its answer, by HTTP status (200: decided and recorded; 503: unrecorded DENY).',
      labelNames: ['status'],
      buckets: LATENCY_BUCKETS,
      registers
    })
    this.recordGroupDuration = new Histogram({
      name: 'arbiter_record_group_duration_seconds',
      help: 'Time to write one group of audit records in one transaction, commit included.',
      labelNames: ['outcome'],
      buckets: LATENCY_BUCKETS,
      registers
    })
    this.recordGroupSize = new Histogram({
      name: 'arbiter_record_group_size',
      help: 'Audit records per group transaction.',
      labelNames: ['outcome'],
      buckets: GROUP_SIZE_BUCKETS,
      registers
    })
    this.authFailures = new Counter({
      name: 'arbiter_auth_failures_total',
      help: 'Requests refused by authentication or role checks: missing or invalid token, rate limited, forbidden role.',
      labelNames: ['reason'],
      registers
    })
    this.violations = new Counter({
      name: 'arbiter_violations_total',
      help: 'Reports that a job ran without an ALLOW that covered it (recorded as job.violation and refused 409), by tenant and kind.',
      labelNames: ['tenant', 'kind'],
      registers
    })
    this.witnessFailures = new Counter({
      name: 'arbiter_witness_failures_total',
      help: 'Checkpoints a witness (CHECKPOINT_WITNESS_FILE, CHECKPOINT_WITNESS_URL) could not take after its retries, or dropped from a full queue, by witness.',
      labelNames: ['witness'],
      registers
    })
    this.shadowEvaluations = new Counter({
      name: 'arbiter_shadow_evaluations_total',
      help: 'Recorded checks the shadow policy (POLICY_SHADOW_PATH) also judged, after they were answered.',
      registers
    })
    this.shadowDisagreements = new Counter({
      name: 'arbiter_shadow_disagreements_total',
      help: 'Checks the shadow policy would have decided otherwise than the policy in force, by live decision, shadow decision and the shadow\'s deciding rule ("none": its default).',
      labelNames: ['live', 'candidate', 'rule'],
      registers
    })
    this.notificationDeliveries = new Counter({
      name: 'arbiter_notification_deliveries_total',
      help: 'Webhook notification attempts by event type and outcome (delivered; retry: failed, to be tried again; failed: its retries ran out).',
      labelNames: ['event', 'outcome'],
      registers
    })
    this.notificationLatency = new Histogram({
      name: 'arbiter_notification_delivery_latency_seconds',
      help: 'Time from the transaction of a notified record to its delivery to a webhook, retries included.',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21600, 86400],
      registers
    })
    // Read from their owners at scrape time, so nothing else has to remember to count them.
    const counted = (name: string, help: string, read: () => number): void => {
      new Counter({ name, help, registers, collect () { this.reset(); this.inc(read()) } }) // eslint-disable-line no-new
    }
    counted('arbiter_policy_reload_failures_total', 'Policy reloads that failed since start; the previous policy stayed in force each time.', sources.policyReloadFailures)
    new Gauge({ // eslint-disable-line no-new
      name: 'arbiter_policy_info',
      help: 'The policy in force: 1, labelled with its snapshot id (the id GET /policies/current and every decision name).',
      labelNames: ['snapshot'],
      registers,
      collect () {
        this.reset()
        const snapshot = sources.policySnapshot()
        if (snapshot !== undefined) this.set({ snapshot }, 1)
      }
    })
    new Gauge({ // eslint-disable-line no-new
      name: 'arbiter_record_queue_depth',
      help: 'Audit records waiting to be written.',
      registers,
      collect () { this.set(sources.pendingAppends()) }
    })
    const writer = sources.writerStats
    counted('arbiter_record_in_doubt_total', 'Audit records whose COMMIT answer was lost and could not be read back: they may be in the log although their callers were answered 503. Should stay 0.', () => writer().inDoubt)
    counted('arbiter_record_late_commits_total', 'Appends whose records committed after their caller had been answered 503.', () => writer().lateCommits)
    counted('arbiter_record_requeued_total', 'Appends sent again because their group rolled back after another caller in it was answered.', () => writer().requeued)
    counted('arbiter_record_recovered_commits_total', 'Groups whose COMMIT answer was lost but were found committed when read back.', () => writer().recoveredCommits)
    // The pool first: it is read before the series below send their queries through it.
    if (sources.poolStats !== undefined) this.poolSeries(registers, sources.poolStats)
    this.approvalSeries(registers, sources.approvalQueues)
    this.checkpointSeries(registers, sources.checkpointLags)
    if (sources.notificationBacklog !== undefined) this.notificationSeries(registers, sources.notificationBacklog)
    if (sources.partitionsAheadSec !== undefined) {
      const read = sources.partitionsAheadSec
      new Gauge({ // eslint-disable-line no-new
        name: 'arbiter_audit_partitions_ahead_seconds',
        help: 'How far ahead of now the audit log\'s partitions reach, read from the database at scrape time: made hourly for the period ahead (AUDIT_PARTITION); past them an append makes its own.',
        registers,
        async collect () {
          this.reset()
          const ahead = await read().catch(() => undefined)
          if (ahead !== undefined) this.set(ahead)
        }
      })
    }
    this.processSeries(registers)
  }

  /** Notifications not yet delivered, read from the database at scrape time (after the pool's series). */
  private notificationSeries (registers: Registry[], read: NonNullable<MetricSources['notificationBacklog']>): void {
    new Gauge({ // eslint-disable-line no-new
      name: 'arbiter_notification_backlog',
      help: 'Notifications not yet delivered, read from the database at scrape time: events not yet routed (outbox) and deliveries waiting or retrying (pending).',
      labelNames: ['state'],
      registers,
      async collect () {
        this.reset()
        const backlog = await read().catch(() => undefined)
        if (backlog === undefined) return
        this.set({ state: 'outbox' }, backlog.outbox)
        this.set({ state: 'pending' }, backlog.pending)
      }
    })
  }

  /** Each tenant's approval queue, read from the database at scrape time (every instance sees all of it). */
  private approvalSeries (registers: Registry[], read: () => Promise<ApprovalQueue[]>): void {
    const queues = oncePerScrape(read)
    tenantGauge(registers, 'arbiter_approvals_pending', 'Approvals waiting for reviewers, by tenant.', queues, (q) => q.pending)
    tenantGauge(registers, 'arbiter_approvals_oldest_pending_age_seconds', 'How long the oldest pending approval has waited, by tenant.', queues, (q) => q.oldestAgeSec)
  }

  /** How far each log's newest checkpoint is behind its head, read from the database at scrape time. */
  private checkpointSeries (registers: Registry[], read: () => Promise<CheckpointLag[]>): void {
    const lags = oncePerScrape(read)
    tenantGauge(registers, 'arbiter_checkpoint_age_seconds', 'Seconds since the newest checkpoint of each tenant\'s log was signed (no series for a log without one).', lags, (l) => l.ageSec)
    tenantGauge(registers, 'arbiter_checkpoint_uncovered_records', 'Records of each tenant\'s log past its newest checkpoint: 0 once the head is covered.', lags, (l) => l.uncovered)
  }

  /** The Postgres connection pool: all connections, the idle ones, and queries waiting for one. */
  private poolSeries (registers: Registry[], read: () => PoolStats): void {
    new Gauge({ // eslint-disable-line no-new
      name: 'arbiter_db_pool_connections',
      help: 'Connections in the Postgres pool by state: total (open), idle, and waiting (queries queued for a connection).',
      labelNames: ['state'],
      registers,
      collect () {
        const { total, idle, waiting } = read()
        this.set({ state: 'total' }, total)
        this.set({ state: 'idle' }, idle)
        this.set({ state: 'waiting' }, waiting)
      }
    })
  }

  /**
   * A few process series, read at scrape time, that cost nothing per request. Not prom-client's
   * collectDefaultMetrics: it observes every garbage collection, which looked expensive in the
   * bench (not established: docs/performance.md).
   */
  private processSeries (registers: Registry[]): void {
    const loop = this.loopDelay
    loop.enable()
    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({ name, help, registers, collect () { this.set(read()) } }) // eslint-disable-line no-new
    }
    gauge('arbiter_process_resident_memory_bytes', 'Resident memory of the process.', () => process.memoryUsage.rss())
    gauge('arbiter_nodejs_heap_used_bytes', 'V8 heap in use.', () => process.memoryUsage().heapUsed)
    gauge('arbiter_process_start_time_seconds', 'When the process started, in seconds since the epoch.', () => Math.round(Date.now() / 1000 - process.uptime()))
    new Counter({ // eslint-disable-line no-new
      name: 'arbiter_process_cpu_seconds_total',
      help: 'CPU time the process used, user and system.',
      registers,
      collect () {
        const { user, system } = process.cpuUsage()
        this.reset()
        this.inc((user + system) / 1e6)
      }
    })
    // Delay of the event loop since the previous scrape: what every request waited on top of its own work.
    gauge('arbiter_nodejs_eventloop_delay_p99_seconds', 'p99 event-loop delay since the previous scrape.', () => loop.percentile(99) / 1e9)
    gauge('arbiter_nodejs_eventloop_delay_max_seconds', 'Largest event-loop delay since the previous scrape (read last: it resets the window).', () => {
      const max = loop.max / 1e9
      loop.reset()
      return max
    })
  }

  close (): void {
    this.loopDelay.disable()
  }

  authFailed (reason: AuthFailure): void {
    this.authFailures.inc({ reason })
  }

  async render (): Promise<{ contentType: string, body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() }
  }
}

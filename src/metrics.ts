/**
 * The Prometheus series Arbiter exposes on GET /metrics. One registry per app (never the
 * process-global one), so two apps in one process, as in tests, do not share counters.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { AuthFailure } from './auth/plugin.js'

/** From 0.5 ms (a decision that waits on nothing) to the 2 s scheduler deadline and past it. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 5]
export interface ApprovalQueue {
  tenant: string
  pending: number
  oldestAgeSec: number
}

const GROUP_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256]

export class Metrics {
  readonly registry = new Registry()
  readonly decisions: Counter<'decision' | 'rule_id'>
  readonly checkDuration: Histogram<'status'>
  readonly recordGroupDuration: Histogram<'outcome'>
  readonly recordGroupSize: Histogram<'outcome'>
  readonly authFailures: Counter<'reason'>
  private readonly loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 })

  constructor (sources: { policyReloadFailures: () => number, pendingAppends: () => number, approvalQueues: () => Promise<ApprovalQueue[]> }) {
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
    // Read from their owners at scrape time, so nothing else has to remember to count them.
    new Counter({ // eslint-disable-line no-new
      name: 'arbiter_policy_reload_failures_total',
      help: 'Policy reloads that failed since start; the previous policy stayed in force each time.',
      registers,
      collect () {
        this.reset()
        this.inc(sources.policyReloadFailures())
      }
    })
    new Gauge({ // eslint-disable-line no-new
      name: 'arbiter_record_queue_depth',
      help: 'Audit records waiting to be written.',
      registers,
      collect () { this.set(sources.pendingAppends()) }
    })
    this.approvalSeries(registers, sources.approvalQueues)
    this.processSeries(registers)
  }

  /** Each tenant's approval queue, read from the database at scrape time (every instance sees all of it). */
  private approvalSeries (registers: Registry[], read: () => Promise<ApprovalQueue[]>): void {
    let last: Promise<ApprovalQueue[]> | undefined
    // Both gauges come from one query per scrape.
    const queues = async (): Promise<ApprovalQueue[]> => {
      last ??= read().finally(() => setImmediate(() => { last = undefined }))
      return await last
    }
    new Gauge({ // eslint-disable-line no-new
      name: 'arbiter_approvals_pending',
      help: 'Approvals waiting for reviewers, by tenant.',
      labelNames: ['tenant'],
      registers,
      async collect () {
        this.reset()
        for (const q of await queues()) this.set({ tenant: q.tenant }, q.pending)
      }
    })
    new Gauge({ // eslint-disable-line no-new
      name: 'arbiter_approvals_oldest_pending_age_seconds',
      help: 'How long the oldest pending approval has waited, by tenant.',
      labelNames: ['tenant'],
      registers,
      async collect () {
        this.reset()
        for (const q of await queues()) this.set({ tenant: q.tenant }, q.oldestAgeSec)
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

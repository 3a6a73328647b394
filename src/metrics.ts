/**
 * The Prometheus series Arbiter exposes on GET /metrics. One registry per app (never the
 * process-global one), so two apps in one process, as in tests, do not share counters.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { AuthFailure } from './auth/plugin.js'

/** From 0.5 ms (a decision that waits on nothing) to the 2 s scheduler deadline and past it. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 5]
const GROUP_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256]

export class Metrics {
  readonly registry = new Registry()
  readonly decisions: Counter<'decision' | 'rule_id'>
  readonly checkDuration: Histogram<'status'>
  readonly recordGroupDuration: Histogram<'outcome'>
  readonly recordGroupSize: Histogram<'outcome'>
  readonly authFailures: Counter<'reason'>

  constructor (sources: { policyReloadFailures: () => number, pendingAppends: () => number }) {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry, prefix: 'arbiter_' })
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
  }

  authFailed (reason: AuthFailure): void {
    this.authFailures.inc({ reason })
  }

  async render (): Promise<{ contentType: string, body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() }
  }
}

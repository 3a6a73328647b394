/**
 * Delivers the notification outbox. Woken by the database's notification when a transaction
 * adds events (and by a timer: when a retry falls due, and every few seconds in case a wake-up
 * was missed), it turns events into one delivery per webhook, then claims due deliveries and
 * POSTs them. Claims take rows no other instance holds and lease them past the attempt's
 * timeout, so two instances never attempt one delivery at once; only an instance that dies
 * mid-attempt leaves it to be sent again, which receivers tell by its `webhook-id`.
 */
import type { FastifyBaseLogger as Logger } from 'fastify'
import type { ParsedRecord } from '../audit/chain.js'
import type { Database } from '../store/db.js'
import { claimDue, lockOutbox, markAttemptFailed, markDelivered, nextDueInMs, routeEvents, type ClaimedDelivery, type NewDelivery, type OutboxRow } from '../store/notifications.js'
import { eventBody, eventId, type NotificationSource } from './payload.js'
import { origin, type NotifyConfig, type Webhook } from './settings.js'

export const NOTIFY_CHANNEL = 'arbiter_notifications'
/** Events routed per transaction, and deliveries attempted at once. */
const ROUTE_BATCH = 100
const CLAIM_BATCH = 16
/** The longest wait between two attempts of one delivery. */
const MAX_BACKOFF_MS = 10 * 60_000
/** How long past its timeout an attempt's claim holds: its outcome is recorded within it. */
const LEASE_MARGIN_MS = 5000
/** A look at the outbox while wake-ups arrive, and while they may not (no listener, or it is lost). */
const POLL_LISTENING_MS = 5000
const POLL_DEAF_MS = 1000
/**
 * Wake-ups within this long of a pass's start are answered by one pass this long after that
 * start, not each at once: under load every approval asked for is an event, and a pass per event
 * cost each check four more statements (docs/performance.md). A lone event after a quiet spell
 * is routed at once.
 */
export const GATHER_MS = 50

export type DeliveryOutcome = 'delivered' | 'retry' | 'failed'

export interface DispatcherOptions {
  db: Database
  config: NotifyConfig
  log: Pick<Logger, 'warn' | 'error' | 'debug'>
  /** Told of each attempt's outcome; `latencySec` (record to delivery) when delivered. */
  onOutcome?: (eventType: string, outcome: DeliveryOutcome, latencySec?: number) => void
  /** The time a `webhook-timestamp` says: the real one, whatever clock the decisions use. */
  nowMs?: () => number
}

export class NotificationDispatcher {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private again = false
  /** A pass is due GATHER_MS after the last one started, for the wake-ups since. */
  private gathering = false
  private lastPass = -Infinity
  private closed = false
  private listening = false
  private listener: { close: () => Promise<void> } | undefined
  /** Aborts attempts in flight when the dispatcher closes. */
  private readonly stopping = new AbortController()

  constructor (private readonly o: DispatcherOptions) {}

  start (): void {
    this.listener = this.o.db.listen?.(NOTIFY_CHANNEL, {
      notify: () => { this.wake() },
      // Back after a loss: what was announced meanwhile is in the outbox, so look now.
      state: (listening) => { this.listening = listening; if (listening) this.wake() }
    })
    this.wake()
  }

  /**
   * Runs a pass now; or, within GATHER_MS of the last one's start, at GATHER_MS after it, with
   * whatever else woke it meanwhile (a pass sees every event committed before it starts).
   */
  wake (): void {
    if (this.closed || this.gathering) return
    if (this.running !== undefined) {
      this.again = true
      return
    }
    const wait = this.lastPass + GATHER_MS - performance.now()
    if (wait > 0) {
      this.gathering = true
      clearTimeout(this.timer)
      this.timer = setTimeout(() => {
        this.gathering = false
        this.wake()
      }, wait).unref()
      return
    }
    clearTimeout(this.timer)
    this.lastPass = performance.now()
    this.running = this.pass().finally(() => {
      this.running = undefined
      if (!this.again) return
      this.again = false
      this.wake()
    })
  }

  /** Stops: no new attempt starts, attempts in flight are aborted (and retried by whoever runs next). */
  async close (): Promise<void> {
    this.closed = true
    clearTimeout(this.timer)
    this.stopping.abort()
    await this.listener?.close()
    await this.running
  }

  /** Routes and delivers until nothing more is due, then sleeps until the next retry is. */
  private async pass (): Promise<void> {
    const poll = this.listening ? POLL_LISTENING_MS : POLL_DEAF_MS
    let delay = poll
    try {
      let more = true
      while (more && !this.closed) {
        const routedAll = await this.route()
        const claimedAll = await this.deliverDue()
        more = !routedAll || !claimedAll
      }
      delay = Math.min(poll, await nextDueInMs(this.o.db) ?? poll)
    } catch (err) {
      if (!this.closed) this.o.log.warn({ err }, 'notification dispatch failed; trying again shortly')
    }
    if (!this.closed) this.timer = setTimeout(() => { this.wake() }, delay).unref()
  }

  /** Turns a batch of events into deliveries; true when the outbox held no more than the batch. */
  private async route (): Promise<boolean> {
    return await this.o.db.transaction(async (tx) => {
      const events = await lockOutbox(tx, ROUTE_BATCH)
      if (events.length === 0) return true
      const deliveries = events.flatMap((e) => this.deliveriesOf(e))
      await routeEvents(tx, events.map((e) => e.id), deliveries)
      return events.length < ROUTE_BATCH
    })
  }

  private deliveriesOf (e: OutboxRow): NewDelivery[] {
    const { global, tenants, consoleBaseUrl } = this.o.config
    const hooks: Array<['global' | 'tenant', Webhook]> = []
    if (global !== undefined) hooks.push(['global', global])
    const own = tenants.get(e.tenant_id)
    if (own !== undefined) hooks.push(['tenant', own])
    if (hooks.length === 0) return []
    const record = JSON.parse(e.record) as ParsedRecord
    const source: NotificationSource = {
      tenant_id: e.tenant_id,
      seq: Number(e.seq),
      record,
      approval: e.a_topic === null ? null : { topic: e.a_topic, rule_id: e.a_rule_id, reason: e.a_reason ?? '', approvals_required: Number(e.a_required) },
      decision: record.type === 'job.violation' ? { topic: e.d_topic, rule_id: e.d_rule_id } : null
    }
    return hooks.map(([destination, hook]) => ({
      tenant_id: e.tenant_id,
      seq: Number(e.seq),
      event_type: record.type,
      destination,
      format: hook.format,
      body: eventBody(source, hook.format, consoleBaseUrl),
      created_at: e.created_at
    }))
  }

  /** Attempts a batch of due deliveries at once; true when fewer than a batch were due. */
  private async deliverDue (): Promise<boolean> {
    if (this.closed) return true
    const claimed = await claimDue(this.o.db, CLAIM_BATCH, this.o.config.timeoutMs + LEASE_MARGIN_MS)
    // Every attempt ends before the pass does (close waits for the pass), even when one fails.
    const failed = (await Promise.allSettled(claimed.map(async (d) => { await this.attempt(d) }))).find((r) => r.status === 'rejected')
    if (failed !== undefined) throw failed.reason
    return claimed.length < CLAIM_BATCH
  }

  private async attempt (d: ClaimedDelivery): Promise<void> {
    const hook = d.destination === 'global' ? this.o.config.global : this.o.config.tenants.get(d.tenant_id)
    const where = { deliveryId: d.delivery_id, tenantId: d.tenant_id, seq: Number(d.seq), event: d.event_type, destination: d.destination, attempt: d.attempts }
    let httpStatus: number | null = null
    let error: string
    if (hook === undefined) {
      error = `no ${d.destination} webhook is configured any more`
    } else {
      try {
        httpStatus = await this.post(hook, d)
        if (httpStatus >= 200 && httpStatus < 300) {
          const latency = await markDelivered(this.o.db, d.delivery_id, httpStatus)
          this.o.onOutcome?.(d.event_type, 'delivered', latency)
          return
        }
        error = `the webhook answered ${httpStatus}`
      } catch (err) {
        error = this.stopping.signal.aborted ? 'arbiter shut down during the attempt' : describe(err)
      }
    }
    // A shutdown's attempt is due again at once: the next instance to run sends it.
    const retryIn = this.stopping.signal.aborted ? 0 : backoff(this.o.config.backoffMs, d.attempts)
    const status = await markAttemptFailed(this.o.db, d, { httpStatus, error }, retryIn, this.o.config.retryMaxSec)
    if (status === undefined) return
    this.o.onOutcome?.(d.event_type, status === 'failed' ? 'failed' : 'retry')
    const at = { ...where, webhook: hook === undefined ? null : origin(hook.url), httpStatus, error }
    if (status === 'failed') this.o.log.error(at, 'notification not delivered: its retries ran out')
    else this.o.log.warn({ ...at, retryInMs: Math.round(retryIn) }, 'notification attempt failed; it will be retried')
  }

  /** POSTs one delivery, signed; the answer's status. Redirects are not followed: a webhook answers itself. */
  private async post (hook: Webhook, d: ClaimedDelivery): Promise<number> {
    const id = eventId(d.tenant_id, Number(d.seq))
    const timestamp = Math.floor((this.o.nowMs ?? Date.now)() / 1000)
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'arbiter-notify',
      'webhook-id': id,
      'webhook-timestamp': String(timestamp)
    }
    if (hook.sign !== undefined) headers['webhook-signature'] = hook.sign(id, timestamp, d.body)
    const res = await fetch(hook.url, {
      method: 'POST',
      headers,
      body: d.body,
      redirect: 'manual',
      signal: AbortSignal.any([this.stopping.signal, AbortSignal.timeout(this.o.config.timeoutMs)])
    })
    await res.body?.cancel().catch(() => {})
    return res.status
  }
}

/** Exponential from `baseMs`, capped, with jitter so that deliveries failed together spread out. */
export function backoff (baseMs: number, attempt: number): number {
  const full = Math.min(MAX_BACKOFF_MS, baseMs * 2 ** Math.min(attempt - 1, 30))
  return full * (0.5 + Math.random() / 2)
}

/** An attempt's error as the delivery list shows it: what went wrong, never a URL's path. */
function describe (err: unknown): string {
  const e = err as Error & { cause?: { code?: string, message?: string } }
  if (e.name === 'TimeoutError') return 'the webhook did not answer in time'
  const cause = e.cause?.code ?? e.cause?.message
  return cause === undefined ? e.message : `${e.message}: ${cause}`
}

/**
 * `arbiter/client`: the scheduler's side of Arbiter. It asks `POST /check` before a job runs,
 * turns every way of not getting a decision into a DENY (or, when told to fail open, a visible
 * ALLOW), retries THROTTLE answers within a bound, waits for reviewers to decide an approval,
 * and reports job events. Node built-ins only,
 * and nothing from the server, so a scheduler can depend on it alone.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { readDecision } from './decision.js'
import { CLIENT_ERRORS, isRecord, parseJson, post, unexpectedAnswer, Failure } from './http.js'
import type { Approval, ApprovalJob, ArbiterClientOptions, ArbiterDecision, CheckFailure, CheckJob, CheckOptions, CheckResult, FailOpenEvent, JobEvent, JobEventResult, WaitOptions } from './types.js'
import { waitForApproval } from './wait.js'

export { dispatchAction, type DispatchAction } from './decision.js'
export { CLIENT_ERRORS } from './http.js'
export { MAX_WAIT_SEC } from './wait.js'
export * from './types.js'

export const DEFAULT_DEADLINE_MS = 2000
/** Waits before a THROTTLE retry are at least this long, whatever `retry_after_ms` says. */
const MIN_RETRY_WAIT_MS = 10
const PRINTABLE_TOKEN = /^[\x21-\x7e]+$/

/** A failed `reportEvent`: Arbiter refused the event or could not be reached. */
export class ArbiterClientError extends Error {
  /** The server's `ARBITER_ERR_*` code, or one of `CLIENT_ERRORS`. */
  readonly code: string
  /** The HTTP status, when there was an answer. */
  readonly statusCode: number | undefined

  constructor (error: CheckFailure, message = error.message) {
    super(message)
    this.name = 'ArbiterClientError'
    this.code = error.code
    this.statusCode = error.statusCode
  }
}

function invalid (what: string): TypeError {
  return new TypeError(`ArbiterClient: ${what}`)
}

const isPositiveMs = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0 && v <= 2 ** 31 - 1

/** Failures that fail-open must not let through: the request itself is wrong, or the caller gave up. */
function mayFailOpen (error: CheckFailure): boolean {
  const refused = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500
  return !refused && error.code !== CLIENT_ERRORS.ABORTED && error.code !== CLIENT_ERRORS.INVALID_JOB
}

/** The JSON of a job the client may send: an object with a `job_id` and a `topic`. */
function serializeJob (job: unknown): string | Failure {
  const bad = (why: string): Failure => new Failure(CLIENT_ERRORS.INVALID_JOB, `invalid job: ${why}`)
  if (!isRecord(job)) return bad('not an object')
  if (typeof job.job_id !== 'string' || job.job_id === '') return bad('no job_id')
  if (typeof job.topic !== 'string' || job.topic === '') return bad('no topic')
  try {
    return JSON.stringify(job)
  } catch (err) {
    return bad(`not serializable (${(err as Error).message})`)
  }
}

/** The wait before retrying a THROTTLE, or undefined when it would not fit in the bound. */
function retryWait (throttled: ArbiterDecision, waited: number, maxWaitMs: number): number | undefined {
  const after = throttled.retry_after_ms
  if (after === undefined) return undefined
  // Up to 10 % more, never less, so that throttled schedulers do not come back in step.
  const wait = Math.max(MIN_RETRY_WAIT_MS, Math.ceil(after + Math.random() * after * 0.1))
  const remaining = maxWaitMs - waited
  if (Math.max(after, MIN_RETRY_WAIT_MS) > remaining) return undefined
  return Math.min(wait, remaining)
}

export class ArbiterClient {
  readonly #base: URL
  readonly #token: string
  readonly #deadlineMs: number
  readonly #failMode: 'closed' | 'open'
  readonly #onFailOpen: ((event: FailOpenEvent) => void) | undefined
  readonly #fetch: typeof fetch
  #warnedFailOpen = false

  /** Throws a TypeError for options that cannot work; nothing is sent until a call. */
  constructor (options: ArbiterClientOptions) {
    if (!isRecord(options)) throw invalid('options must be an object')
    const { baseUrl, token, deadlineMs = DEFAULT_DEADLINE_MS, failMode = 'closed', onFailOpen, fetch: fetchFn = globalThis.fetch } = options
    const base = typeof baseUrl === 'string' && URL.canParse(baseUrl) ? new URL(baseUrl) : undefined
    if (base === undefined || !['http:', 'https:'].includes(base.protocol)) throw invalid('baseUrl must be an http(s) URL')
    if (!base.pathname.endsWith('/')) base.pathname += '/'
    // A token fetch would refuse as a header must fail here, not look like an unreachable server.
    if (typeof token !== 'string' || !PRINTABLE_TOKEN.test(token)) throw invalid('token must be a non-empty string of printable characters')
    if (!isPositiveMs(deadlineMs)) throw invalid('deadlineMs must be a positive number of milliseconds')
    if (failMode !== 'closed' && failMode !== 'open') throw invalid("failMode must be 'closed' or 'open'")
    if (onFailOpen !== undefined && typeof onFailOpen !== 'function') throw invalid('onFailOpen must be a function')
    if (typeof fetchFn !== 'function') throw invalid('fetch must be a function')
    this.#base = base
    this.#token = token
    this.#deadlineMs = deadlineMs
    this.#failMode = failMode
    this.#onFailOpen = onFailOpen
    this.#fetch = fetchFn
  }

  /**
   * Asks Arbiter whether `job` may run. Resolves to Arbiter's decision (`source: 'arbiter'`), or,
   * when none could be had, to a DENY (`source: 'client'`) or, in fail mode `open`, an ALLOW
   * (`source: 'fail_open'`). A refused request (4xx), an invalid job and an aborted check are
   * always a DENY. Once Arbiter has answered THROTTLE, a retry that fails in any way gives back
   * that THROTTLE. Rejects only for invalid `options`.
   */
  async check (job: CheckJob, options: CheckOptions = {}): Promise<CheckResult> {
    const { retryThrottle, signal } = options
    const maxWaitMs = retryThrottle?.maxWaitMs
    if (retryThrottle !== undefined && (typeof maxWaitMs !== 'number' || !Number.isFinite(maxWaitMs) || maxWaitMs < 0)) {
      throw invalid('retryThrottle.maxWaitMs must be a number of milliseconds ≥ 0')
    }
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalid('signal must be an AbortSignal')
    const payload = serializeJob(job)
    if (typeof payload !== 'string') return this.#failed(job, payload)

    let waited = 0
    let throttled: ArbiterDecision | undefined
    for (;;) {
      const result = await this.#ask(payload, signal)
      if (result instanceof Failure) {
        // Arbiter has decided THROTTLE: a retry that fails (or is aborted) leaves that word standing,
        // rather than letting the job through by failing open or denying what Arbiter only deferred.
        if (throttled !== undefined) return throttled
        return this.#failed(job, result)
      }
      if (result.decision !== 'THROTTLE' || maxWaitMs === undefined) return result
      throttled = result
      const wait = retryWait(result, waited, maxWaitMs)
      if (wait === undefined) return result
      try {
        await sleep(wait, undefined, { signal })
      } catch {
        return result
      }
      waited += wait
    }
  }

  /**
   * Reports what became of a checked job. Resolves to the recorded event (201); rejects with an
   * `ArbiterClientError` (with `statusCode` and `code`) when Arbiter refuses it or cannot be
   * reached within the deadline.
   */
  async reportEvent (jobId: string, event: JobEvent): Promise<JobEventResult> {
    if (typeof jobId !== 'string' || jobId === '') throw invalid('jobId must be a non-empty string')
    if (!isRecord(event)) throw invalid('event must be an object')
    const { status, tenant_id: tenantId, detail } = event
    const answer = await post({
      fetch: this.#fetch,
      url: new URL(`jobs/${encodeURIComponent(jobId)}/events`, this.#base),
      token: this.#token,
      payload: JSON.stringify({ status, tenant_id: tenantId, detail }),
      deadlineMs: this.#deadlineMs
    })
    if (answer instanceof Failure) throw new ArbiterClientError(answer.error)
    const body = parseJson(answer.text)
    if (answer.status === 201 && isRecord(body) && typeof body.seq === 'number') return body as unknown as JobEventResult
    const refused = answer.status === 201 ? new Failure(CLIENT_ERRORS.BAD_RESPONSE, 'arbiter answered an unreadable event', 201) : unexpectedAnswer(answer)
    throw new ArbiterClientError(refused.error, refused.reason)
  }

  /**
   * Waits for reviewers to decide on the approval of `job` (a job that was answered
   * `REQUIRE_APPROVAL`), without polling: long polls of `GET /approvals/{job_id}?wait_sec=60`
   * that Arbiter answers as soon as the approval is decided, asked again until it is. Resolves to
   * the approval once it is no longer `PENDING` (`APPROVED`: check the job again to dispatch it;
   * `DENIED`, `CANCELLED`, `EXPIRED`, …: it must not run), once its `expires_at` has passed by
   * this machine's clock (still `PENDING` until Arbiter records the expiry: it will not be
   * approved), or at `timeoutMs`, as last read (`PENDING`). Unreachable, timed-out, 429 and 5xx
   * answers are asked again after a short backoff. Rejects with an `ArbiterClientError` when
   * Arbiter refuses (a 4xx: 404 for no approval, or one for an agent the key may not speak for),
   * answers something that is not an approval, when `signal` aborts (`ARBITER_CLIENT_ERR_ABORTED`),
   * or when `timeoutMs` passes before any approval was read (the last failure's code). Waiting
   * records nothing.
   */
  async waitForApproval (job: ApprovalJob, options: WaitOptions = {}): Promise<Approval> {
    if (!isRecord(job) || typeof job.job_id !== 'string' || job.job_id === '') throw invalid('job must be an object with a job_id')
    if (job.tenant_id !== undefined && (typeof job.tenant_id !== 'string' || job.tenant_id === '')) throw invalid('job.tenant_id must be a non-empty string')
    if (!isRecord(options)) throw invalid('options must be an object')
    const { timeoutMs = Infinity, signal } = options
    if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs < 0) throw invalid('timeoutMs must be a number of milliseconds ≥ 0')
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalid('signal must be an AbortSignal')
    const result = await waitForApproval(
      { fetch: this.#fetch, base: this.#base, token: this.#token, deadlineMs: this.#deadlineMs },
      { jobId: job.job_id, tenantId: job.tenant_id, timeoutMs, signal }
    )
    if (result instanceof Failure) throw new ArbiterClientError(result.error, result.reason)
    return result
  }

  async #ask (payload: string, signal: AbortSignal | undefined): Promise<ArbiterDecision | Failure> {
    const answer = await post({ fetch: this.#fetch, url: new URL('check', this.#base), token: this.#token, payload, deadlineMs: this.#deadlineMs, signal })
    return answer instanceof Failure ? answer : readDecision(answer)
  }

  #failed (job: unknown, f: Failure): CheckResult {
    if (this.#failMode === 'closed' || !mayFailOpen(f.error)) return { ...f, source: 'client', decision: 'DENY' }
    this.#reportFailOpen({ job_id: (job as CheckJob).job_id, error: f.reason, code: f.error.code })
    return { ...f, reason: `failing open: ${f.reason}`, source: 'fail_open', decision: 'ALLOW' }
  }

  #reportFailOpen (event: FailOpenEvent): void {
    if (this.#onFailOpen === undefined) {
      if (this.#warnedFailOpen) return
      this.#warnedFailOpen = true
      process.emitWarning(`Arbiter could not decide and the client fails open: job ${event.job_id} was let through (${event.error}). Pass onFailOpen to see every such job; this client warns once.`, { type: 'ArbiterFailOpenWarning', code: 'ARBITER_CLIENT_FAIL_OPEN' })
      return
    }
    try {
      this.#onFailOpen(event)
    } catch (err) {
      // The job is let through either way; a broken hook must not break the scheduler's dispatch.
      process.emitWarning(`onFailOpen threw for job ${event.job_id}: ${String(err)}`, { type: 'ArbiterFailOpenWarning', code: 'ARBITER_CLIENT_FAIL_OPEN_HOOK' })
    }
  }
}

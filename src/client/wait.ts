/**
 * Waiting for reviewers: long polls of `GET /approvals/{job_id}?wait_sec=N` (Arbiter holds each
 * for at most a minute and answers as soon as the approval is decided), asked again until it is
 * decided, runs out, or the caller's time is up, through the failures a restart, a draining
 * instance or a network blip bring.
 */
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { CLIENT_ERRORS, Failure, get, isRecord, parseJson, unexpectedAnswer, type Answer } from './http.js'
import type { Approval } from './types.js'

/** The longest wait Arbiter holds one request for. */
export const MAX_WAIT_SEC = 60
const FIRST_BACKOFF_MS = 250
const MAX_BACKOFF_MS = 5000
/**
 * The least time between two asks that found nothing new but were answered before their
 * `wait_sec`: the instance is draining, or its clock says the TTL ran out and this one does not
 * yet. Without it the client would ask in a tight loop.
 */
const EARLY_ANSWER_GAP_MS = 1000

export interface Connection {
  fetch: typeof fetch
  base: URL
  token: string
  /** Added to each ask's `wait_sec`: how long an answer may take beyond the wait. */
  deadlineMs: number
}

export interface WaitRequest {
  jobId: string
  tenantId: string | undefined
  timeoutMs: number
  signal: AbortSignal | undefined
}

/**
 * Decided, or past its TTL by this machine's clock (Arbiter records EXPIRED when its sweep or a
 * check comes by). A queued approval is not: its turn comes, then its decision.
 */
function isSettled (a: Approval): boolean {
  if (a.status === 'QUEUED') return false
  return a.status !== 'PENDING' || a.expires_at === null || Date.parse(a.expires_at) <= Date.now()
}

/** What may pass if asked again: no connection, no answer in time, 429 (a busy instance), a 5xx. */
function mayPass (f: Failure): boolean {
  const { code, statusCode } = f.error
  return code === CLIENT_ERRORS.UNREACHABLE || code === CLIENT_ERRORS.TIMEOUT || statusCode === 429 || (statusCode !== undefined && statusCode >= 500)
}

function readApproval (answer: Answer): Approval | Failure {
  if (answer.status !== 200) return unexpectedAnswer(answer)
  const body = parseJson(answer.text)
  if (isRecord(body) && typeof body.approval_id === 'string' && typeof body.status === 'string' && (typeof body.expires_at === 'string' || body.expires_at === null)) return body as unknown as Approval
  return new Failure(CLIENT_ERRORS.BAD_RESPONSE, 'arbiter answered an unreadable approval', 200)
}

function backoff (failures: number): number {
  const base = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (failures - 1))
  return Math.ceil(base + Math.random() * base * 0.1)
}

/** One ask, waiting up to `waitSec` on Arbiter's side (and `deadlineMs` more for the answer). */
async function ask (c: Connection, w: WaitRequest, waitSec: number): Promise<Approval | Failure> {
  const url = new URL(`approvals/${encodeURIComponent(w.jobId)}`, c.base)
  if (w.tenantId !== undefined) url.searchParams.set('tenant_id', w.tenantId)
  url.searchParams.set('wait_sec', String(waitSec))
  const answer = await get({ fetch: c.fetch, url, token: c.token, deadlineMs: waitSec * 1000 + c.deadlineMs, signal: w.signal })
  return answer instanceof Failure ? answer : readApproval(answer)
}

/**
 * Asks until the approval is settled; at `timeoutMs`, the approval as read then (or, if none
 * could be, the last failure). A failure that cannot pass (a 4xx, an unreadable 200, an abort)
 * ends it. No ask waits past `timeoutMs`: the last second is waited out here, then read once.
 */
export async function waitForApproval (c: Connection, w: WaitRequest): Promise<Approval | Failure> {
  const endAt = performance.now() + w.timeoutMs
  const aborted = (): Failure => new Failure(CLIENT_ERRORS.ABORTED, 'the wait was aborted by its caller')
  let last: Approval | undefined
  let moved = false
  let failures = 0
  for (;;) {
    const waitSec = Math.min(MAX_WAIT_SEC, Math.max(0, Math.floor((endAt - performance.now()) / 1000)))
    const asked = performance.now()
    const read = await ask(c, w, waitSec)
    if (w.signal?.aborted === true) return aborted()
    if (read instanceof Failure) {
      if (!mayPass(read)) return read
      failures++
    } else {
      if (isSettled(read)) return read
      moved = last !== undefined && last.status !== read.status
      last = read
      failures = 0
    }
    const remaining = endAt - performance.now()
    if (remaining <= 0) return last ?? read
    // Early because it moved on (its turn in line came): ask again at once.
    const answeredEarly = !moved && (waitSec === 0 || performance.now() - asked < waitSec * 1000)
    const pause = read instanceof Failure ? backoff(failures) : answeredEarly ? EARLY_ANSWER_GAP_MS : 0
    if (pause > 0) {
      try {
        await sleep(Math.min(pause, remaining), undefined, { signal: w.signal })
      } catch {
        return aborted()
      }
    }
  }
}

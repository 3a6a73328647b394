/**
 * Reading `POST /check` answers, and what a scheduler does with the result.
 */
import { CLIENT_ERRORS, isRecord, parseJson, unexpectedAnswer, type Answer, Failure } from './http.js'
import { DECISIONS, type ArbiterDecision, type CheckResult, type Decision } from './types.js'

const isDecision = (v: unknown): v is Decision => typeof v === 'string' && (DECISIONS as readonly string[]).includes(v)
const isWait = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0

/** `Retry-After` in milliseconds, when it is a number of seconds (dates are not used by Arbiter). */
function retryAfterHeaderMs (headers: Headers): number | undefined {
  const v = headers.get('retry-after')?.trim()
  return v !== undefined && /^\d{1,9}$/.test(v) ? Number(v) * 1000 : undefined
}

/**
 * A 200 is Arbiter's decision, as sent, if it is one: a JSON object with a known `decision` and a
 * `reason` (and, for ALLOW_WITH_CONSTRAINTS, a `constraints` object). Anything else is a failure
 * to get a decision.
 */
export function readDecision (answer: Answer): ArbiterDecision | Failure {
  if (answer.status !== 200) return unexpectedAnswer(answer)
  const body = parseJson(answer.text)
  const unreadable = (why: string): Failure => new Failure(CLIENT_ERRORS.BAD_RESPONSE, `arbiter answered an unreadable decision: ${why}`, 200)
  if (!isRecord(body)) return unreadable(body === undefined ? 'the body is not JSON' : 'the body is not a JSON object')
  if (!isDecision(body.decision)) return unreadable(`unknown decision ${JSON.stringify(body.decision) ?? 'undefined'}`)
  if (typeof body.reason !== 'string') return unreadable('no reason')
  if (body.retry_after_ms !== undefined && !isWait(body.retry_after_ms)) return unreadable('retry_after_ms is not a number of milliseconds')
  if (body.constraints !== undefined && !isRecord(body.constraints)) return unreadable('constraints is not an object')
  // Without its constraints the job would run unbounded: that is not the decision Arbiter made.
  if (body.decision === 'ALLOW_WITH_CONSTRAINTS' && body.constraints === undefined) return unreadable('ALLOW_WITH_CONSTRAINTS without constraints')
  const decision = { ...body, source: 'arbiter' } as unknown as ArbiterDecision
  if (decision.decision === 'THROTTLE' && decision.retry_after_ms === undefined) {
    const fromHeader = retryAfterHeaderMs(answer.headers)
    if (fromHeader !== undefined) decision.retry_after_ms = fromHeader
  }
  return decision
}

/** What a scheduler does with a check result; see `dispatchAction`. */
export type DispatchAction = 'dispatch' | 'dispatch_with_constraints' | 'wait_for_approval' | 'retry_later' | 'reject'

/** A decision this client does not know can only come from a caller that bypassed the types. */
function unknownDecision (_decision: never): 'reject' {
  return 'reject'
}

/**
 * The dispatch switch every scheduler implements, from a check result:
 *
 * - `ALLOW` → `dispatch` (also a fail-open ALLOW: `result.source` is `fail_open`);
 * - `ALLOW_WITH_CONSTRAINTS` → `dispatch_with_constraints`: run the job only under
 *   `result.constraints` (runtime, retries, output size, paths, network);
 * - `REQUIRE_APPROVAL` → `wait_for_approval`: hold the job and check the same job again (same
 *   content, so the same `job_hash`) until reviewers decide; the ALLOW that follows an approval
 *   must be dispatched within the approval's dispatch window;
 * - `THROTTLE` → `retry_later`: check again after `result.retry_after_ms`;
 * - `DENY` → `reject`: do not run the job (also when the client denied because Arbiter could not
 *   decide: `result.source` is `client`). Anything else is rejected too.
 */
export function dispatchAction (result: Pick<CheckResult, 'decision'>): DispatchAction {
  const decision = result.decision
  switch (decision) {
    case 'ALLOW': return 'dispatch'
    case 'ALLOW_WITH_CONSTRAINTS': return 'dispatch_with_constraints'
    case 'REQUIRE_APPROVAL': return 'wait_for_approval'
    case 'THROTTLE': return 'retry_later'
    case 'DENY': return 'reject'
    default: return unknownDecision(decision)
  }
}

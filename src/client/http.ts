/**
 * One HTTP exchange with Arbiter under a deadline, and the reading of its answer: either a body
 * the caller asked for, or a failure that says why not, in the words a DENY's reason uses.
 */
import type { CheckFailure } from './types.js'

/** The client's own error codes; answers from Arbiter keep the server's `ARBITER_ERR_*` code. */
export const CLIENT_ERRORS = {
  /** No connection, or it broke before an answer. */
  UNREACHABLE: 'ARBITER_CLIENT_ERR_UNREACHABLE',
  /** No complete answer within the deadline: the request was aborted. */
  TIMEOUT: 'ARBITER_CLIENT_ERR_TIMEOUT',
  /** The caller's signal aborted the request. */
  ABORTED: 'ARBITER_CLIENT_ERR_ABORTED',
  /** An answer that is not what the contract says: not JSON, an unknown decision, an unexpected status. */
  BAD_RESPONSE: 'ARBITER_CLIENT_ERR_BAD_RESPONSE',
  /** A job the client will not send: not an object with a `job_id` and a `topic`, or not serializable. */
  INVALID_JOB: 'ARBITER_CLIENT_ERR_INVALID_JOB'
} as const

/** A failure to get what was asked for, with the reason a DENY would give. */
export class Failure {
  readonly reason: string
  readonly error: CheckFailure
  // Declared only: a spread of a failure carries what a 503 told, and no undefined keys.
  declare trace_id?: string
  declare job_hash?: string
  declare policy_snapshot?: string

  /** `message` is the error's, when it is not the reason itself (the server's own message). */
  constructor (code: string, reason: string, statusCode?: number, message = reason) {
    this.reason = reason
    this.error = { code, message, ...(statusCode === undefined ? {} : { statusCode }) }
  }
}

export interface Answer {
  status: number
  headers: Headers
  text: string
}

export interface Request {
  fetch: typeof fetch
  url: URL
  token: string
  /** The JSON body of a POST; a GET has none. */
  payload?: string
  deadlineMs: number
  signal?: AbortSignal
}

/** The innermost message of a fetch error ("fetch failed" says little; its cause says more). */
function describe (err: unknown): string {
  let e = err
  while (e instanceof Error && e.cause instanceof Error) e = e.cause
  if (e instanceof AggregateError && e.errors[0] instanceof Error) e = e.errors[0]
  if (!(e instanceof Error)) return String(e)
  const code = (e as { code?: unknown }).code
  return e.message !== '' ? e.message : typeof code === 'string' ? code : e.name
}

/**
 * POSTs JSON and reads the whole answer, all within `deadlineMs`: past it the request is aborted
 * (the socket closed), as it is when the caller's signal aborts.
 */
export async function post (req: Request): Promise<Answer | Failure> {
  return await exchange('POST', req, 'the check was aborted by its caller')
}

/** GETs and reads the whole answer within `deadlineMs`, as `post` does. */
export async function get (req: Omit<Request, 'payload'>): Promise<Answer | Failure> {
  return await exchange('GET', req, 'the request was aborted by its caller')
}

async function exchange (method: 'GET' | 'POST', req: Request, abortedReason: string): Promise<Answer | Failure> {
  const controller = new AbortController()
  let timedOut = false
  const timer = setTimeout(() => { timedOut = true; controller.abort() }, req.deadlineMs)
  const onAbort = (): void => { controller.abort() }
  req.signal?.addEventListener('abort', onAbort, { once: true })
  try {
    if (req.signal?.aborted === true) controller.abort()
    const headers: Record<string, string> = { authorization: `Bearer ${req.token}`, accept: 'application/json' }
    if (method === 'POST') headers['content-type'] = 'application/json'
    const res = await req.fetch(req.url, {
      method,
      headers,
      body: req.payload,
      redirect: 'manual',
      signal: controller.signal
    })
    return { status: res.status, headers: res.headers, text: await res.text() }
  } catch (err) {
    if (req.signal?.aborted === true) return new Failure(CLIENT_ERRORS.ABORTED, abortedReason)
    if (timedOut) return new Failure(CLIENT_ERRORS.TIMEOUT, `arbiter timed out: no answer within ${req.deadlineMs} ms`)
    return new Failure(CLIENT_ERRORS.UNREACHABLE, `arbiter unreachable: ${describe(err)}`)
  } finally {
    clearTimeout(timer)
    req.signal?.removeEventListener('abort', onAbort)
  }
}

/** The parsed body, or undefined when it is not JSON. */
export function parseJson (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

export function isRecord (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

const stringOf = (v: unknown): string | undefined => typeof v === 'string' ? v : undefined

/**
 * An answer that is not the one asked for. Arbiter's errors are `{statusCode, code, error,
 * message}`; a 503 from /check also carries a DENY with its reason and trace.
 */
export function unexpectedAnswer (answer: Answer): Failure {
  const { status } = answer
  const body = parseJson(answer.text)
  const code = isRecord(body) ? stringOf(body.code) : undefined
  if (!isRecord(body) || code === undefined || status < 400) {
    const what = status >= 200 && status < 300 ? `an unexpected ${status}` : `${status} without an Arbiter error body`
    return new Failure(CLIENT_ERRORS.BAD_RESPONSE, `arbiter answered ${what}`, status)
  }
  const message = stringOf(body.message) ?? code
  const result = new Failure(code, `arbiter answered ${status}: ${stringOf(body.reason) ?? message}`, status, message)
  for (const k of ['trace_id', 'job_hash', 'policy_snapshot'] as const) {
    const v = stringOf(body[k])
    if (v !== undefined) result[k] = v
  }
  return result
}

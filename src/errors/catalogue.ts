/**
 * The one catalogue of errors Arbiter answers with: every code and its HTTP status (the codes
 * openapi.yaml documents), and every message, by name, as a template of typed parameters.
 * Tests assert on `code`, never on wording; the wording still lives here and nowhere else.
 */

export const CODES = {
  ARBITER_ERR_VALIDATION: 400,
  ARBITER_ERR_INVALID_JSON: 400,
  ARBITER_ERR_BODY_TOO_LARGE: 400,
  ARBITER_ERR_UNAUTHORIZED: 401,
  ARBITER_ERR_FORBIDDEN: 403,
  ARBITER_ERR_NOT_FOUND: 404,
  ARBITER_ERR_JOB_FINAL: 409,
  ARBITER_ERR_LAST_ADMIN: 409,
  ARBITER_ERR_STALE_JOB_HASH: 409,
  ARBITER_ERR_APPROVAL_CLOSED: 409,
  ARBITER_ERR_ALREADY_VOTED: 409,
  ARBITER_ERR_TRACE_MISMATCH: 409,
  ARBITER_ERR_NOT_AUTHORIZED: 409,
  ARBITER_ERR_UNSUPPORTED_MEDIA_TYPE: 415,
  ARBITER_ERR_POLICY_INVALID: 422,
  ARBITER_ERR_TOO_MANY_FAILURES: 429,
  ARBITER_ERR_BUSY: 429,
  ARBITER_ERR_RECORD_UNAVAILABLE: 503,
  ARBITER_ERR_AUTH_UNAVAILABLE: 503,
  ARBITER_ERR_NOT_READY: 503,
  ARBITER_ERR_SHUTTING_DOWN: 503,
  ARBITER_ERR_INTERNAL: 500
} as const

export type ErrorCode = keyof typeof CODES

export interface Template<P extends unknown[]> {
  code: ErrorCode
  status: number
  message: (...params: P) => string
}

function template<P extends unknown[]> (code: ErrorCode, message: (...params: P) => string): Template<P> {
  return { code, status: CODES[code], message }
}

export const CATALOGUE = {
  // 400
  foreignCursor: template('ARBITER_ERR_VALIDATION', () => 'querystring.cursor is not a cursor this service gave out'),
  timeBeforeYearOne: template('ARBITER_ERR_VALIDATION', (param: string) => `querystring.${param} must be a time from year 1 on`),
  invalidKeyRequest: template('ARBITER_ERR_VALIDATION', (problems: readonly string[]) => problems.join('; ')),
  lookAlikePrincipal: template('ARBITER_ERR_VALIDATION', (id: string, existing: string) =>
    `principal ${id} is the same person as the existing principal ${existing}: make the key for ${existing}, spelled exactly so`),
  bodyTooDeep: template('ARBITER_ERR_VALIDATION', (maxDepth: number) => `body nests deeper than ${maxDepth} levels`),
  badReplayRequest: template('ARBITER_ERR_VALIDATION', (problem: string) => problem),
  duplicateJsonKey: template('ARBITER_ERR_INVALID_JSON', (key: string) => `the body names the key '${key}' more than once; send each key once`),
  // 401: one message for every bad token, so unknown, revoked and mistyped ones look alike.
  missingToken: template('ARBITER_ERR_UNAUTHORIZED', () => 'this request needs an Authorization: Bearer <token> header'),
  invalidToken: template('ARBITER_ERR_UNAUTHORIZED', () => 'the bearer token is not valid'),
  // 403
  remoteWithoutAuth: template('ARBITER_ERR_FORBIDDEN', () => 'with ARBITER_AUTH=disabled, only requests for localhost or a loopback address are served'),
  roleRefused: template('ARBITER_ERR_FORBIDDEN', (roles: readonly string[], method: string, url: string, access: readonly string[]) =>
    `roles ${roles.join(', ')} may not call ${method} ${url}; it needs ${access.join(' or ')}`),
  needsAllTenants: template('ARBITER_ERR_FORBIDDEN', (method: string, url: string) => `${method} ${url} concerns every tenant: it needs a key whose tenants are *`),
  unnamedPrincipal: template('ARBITER_ERR_FORBIDDEN', () => 'this key may only submit jobs that name their principal_id'),
  foreignPrincipal: template('ARBITER_ERR_FORBIDDEN', (agentId: string) => `this key may not submit jobs for principal ${agentId}`),
  keyBeyondReach: template('ARBITER_ERR_FORBIDDEN', () => 'a key cannot reach tenants or agents beyond those of the key that creates it'),
  keysNeedAuth: template('ARBITER_ERR_FORBIDDEN', () => 'keys cannot be created or revoked while ARBITER_AUTH=disabled; use `arbiter keys` on the database'),
  grantsNeedAuth: template('ARBITER_ERR_FORBIDDEN', () => 'grants cannot be made while ARBITER_AUTH=disabled'),
  grantsNeedPerson: template('ARBITER_ERR_FORBIDDEN', () => "grants are made with a person's key (kind person); this is a service key, whatever its roles"),
  votesNeedAuth: template('ARBITER_ERR_FORBIDDEN', () => 'approvals cannot be resolved while ARBITER_AUTH=disabled'),
  // The refusal's words are approvals/lifecycle.ts's voteRefusal (people only, separation of duties, roles).
  voteRefused: template('ARBITER_ERR_FORBIDDEN', (refusal: string) => refusal),
  // 404: what a key may not reach is answered as what does not exist.
  noRoute: template('ARBITER_ERR_NOT_FOUND', (method: string, path: string) => `no route ${method} ${path}`),
  noMetricsRoute: template('ARBITER_ERR_NOT_FOUND', (method: string, path: string) => `no route ${method} ${path}; this listener serves only GET /metrics`),
  noTenant: template('ARBITER_ERR_NOT_FOUND', (tenantId: string) => `no tenant ${tenantId}`),
  noJob: template('ARBITER_ERR_NOT_FOUND', (jobId: string) => `no job ${jobId}`),
  noKey: template('ARBITER_ERR_NOT_FOUND', (keyId: string) => `no key ${keyId}`),
  noTrace: template('ARBITER_ERR_NOT_FOUND', (traceId: string) => `nothing recorded under trace ${traceId}`),
  noSnapshot: template('ARBITER_ERR_NOT_FOUND', (snapshotId: string) => `no policy snapshot ${snapshotId}`),
  noGrant: template('ARBITER_ERR_NOT_FOUND', (grantId: string) => `no grant ${grantId}`),
  noApproval: template('ARBITER_ERR_NOT_FOUND', (jobId: string) => `no approval for job ${jobId}`),
  noConsoleFile: template('ARBITER_ERR_NOT_FOUND', (file: string) => `the web console has no file ${file} (is it built? npm run build)`),
  noReplay: template('ARBITER_ERR_NOT_FOUND', (replayId: string) => `no replay ${replayId} (results are kept for an hour)`),
  // 409
  notAuthorized: template('ARBITER_ERR_NOT_AUTHORIZED', (jobId: string, reason: string, tenantId: string, seq: number) =>
    `job ${jobId} was not authorized to run: ${reason}; recorded as a violation (log ${tenantId}, seq ${seq})`),
  jobFinal: template('ARBITER_ERR_JOB_FINAL', (jobId: string, terminal: string) => `job ${jobId} already reported ${terminal}; a terminal status is final`),
  lastAdminKey: template('ARBITER_ERR_LAST_ADMIN', (keyId: string) => `key ${keyId} is the last admin key that reaches every tenant; create another before revoking it`),
  traceMismatch: template('ARBITER_ERR_TRACE_MISMATCH', (jobId: string) => `job ${jobId} runs under another trace`),
  staleJobHash: template('ARBITER_ERR_STALE_JOB_HASH', (jobHash: string) => `the job changed since you saw it: its hash is now ${jobHash}`),
  approvalNotVoting: template('ARBITER_ERR_APPROVAL_CLOSED', (status: string) => `the approval is ${status}; it takes no more votes`),
  approvalNotCancellable: template('ARBITER_ERR_APPROVAL_CLOSED', (status: string) => `the approval is ${status}; only a pending or approved one can be cancelled`),
  approvalExpired: template('ARBITER_ERR_APPROVAL_CLOSED', () => 'approval expired'),
  alreadyVoted: template('ARBITER_ERR_ALREADY_VOTED', (principalId: string) => `${principalId} already voted on this approval`),
  // 422
  policyInvalid: template('ARBITER_ERR_POLICY_INVALID', (message: string, problems: readonly string[]) => `${message}: ${problems.join('; ')}`),
  // 429
  tooManyFailures: template('ARBITER_ERR_TOO_MANY_FAILURES', () => 'too many failed authentications from this address; try again later'),
  replaysBusy: template('ARBITER_ERR_BUSY', (running: number) => `${running} policy replays are running on this instance; try again when one has finished`),
  tooManyWaiters: template('ARBITER_ERR_BUSY', (max: number) => `${max} requests already wait on approvals on this instance; ask again without wait_sec, later, or on another instance`),
  // 500: what went wrong is logged, never told.
  internal: template('ARBITER_ERR_INTERNAL', () => 'internal error'),
  unauthenticatedHandler: template('ARBITER_ERR_INTERNAL', () => 'request reached a handler unauthenticated'),
  // 503
  notRecorded: template('ARBITER_ERR_RECORD_UNAVAILABLE', (what: string) => `${what} could not be recorded`),
  decisionNotRecorded: template('ARBITER_ERR_RECORD_UNAVAILABLE', (why: string) => `decision could not be recorded: ${why}`),
  recordQueueFull: template('ARBITER_ERR_RECORD_UNAVAILABLE', () => 'the record could not be written: the record queue is full'),
  recordDatabaseDown: template('ARBITER_ERR_RECORD_UNAVAILABLE', () => 'the record could not be written: the database is unavailable'),
  recordOverBudget: template('ARBITER_ERR_RECORD_UNAVAILABLE', () => 'the record could not be written within the budget'),
  keyStoreUnavailable: template('ARBITER_ERR_AUTH_UNAVAILABLE', () => 'the key store did not answer; try again'),
  databaseTimeout: template('ARBITER_ERR_NOT_READY', (timeoutMs: number) => `database did not answer within ${timeoutMs} ms`),
  databaseUnreachable: template('ARBITER_ERR_NOT_READY', (reason: string) => `database unreachable: ${reason}`),
  noPolicyLoaded: template('ARBITER_ERR_NOT_READY', () => 'no policy is loaded'),
  shuttingDown: template('ARBITER_ERR_SHUTTING_DOWN', () => 'the server is shutting down; send the request to another instance')
} as const

export type ErrorName = keyof typeof CATALOGUE
/** The parameters of an entry's message template. */
export type ParamsOf<N extends ErrorName> = Parameters<(typeof CATALOGUE)[N]['message']>

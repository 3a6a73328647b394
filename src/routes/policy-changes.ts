/**
 * Seeing a policy change before it is made: POST /policies/replay judges the recorded decisions
 * of a window again under a candidate sent in the body (read back by id with GET), and
 * GET /policies/shadow reports what the shadow policy would have decided of live traffic.
 */
import type { FastifyInstance } from 'fastify'
import { assertTenant, callerOf } from '../auth/plugin.js'
import { hasRole, tenantFilter, type Principal } from '../auth/principal.js'
import { errorFor } from '../errors/index.js'
import type { PolicyHolder } from '../live-policy/holder.js'
import type { Shadow } from '../live-policy/shadow.js'
import { isPolicyFile } from '../live-policy/sources.js'
import { compilePolicy, formatProblem, type CompiledPolicy } from '../policy/index.js'
import type { PolicySource } from '../policy/types.js'
import { MAX_RUNNING_REPLAYS, type ReplayRun, type ReplayRuns } from '../replay/runs.js'
import { parseFailOn, type FailOn } from '../replay/tally.js'
import { REPLAY_BODY_LIMIT, replayGetRoute, replayStartRoute, shadowReportRoute } from '../schemas/policy-changes.js'

const AUDITOR = ['auditor'] as const

interface ReplayBody {
  files: PolicySource[]
  since?: string
  until?: string
  tenant_id?: string
  fail_on?: string
  examples?: number
  max_seconds?: number
}

export interface PolicyChangeOptions {
  runs: ReplayRuns
  policies: PolicyHolder
  shadow: { policies: PolicyHolder, report: Shadow } | undefined
}

/** Who may read a replay back: the key that started it. */
function ownerOf (p: Principal): string {
  return p.keyId ?? p.principalId
}

export function policyChangeRoutes (app: FastifyInstance, opts: PolicyChangeOptions): void {
  app.post<{ Body: ReplayBody }>('/policies/replay', {
    config: { access: AUDITOR },
    bodyLimit: REPLAY_BODY_LIMIT,
    schema: replayStartRoute
  }, async (request, reply) => {
    const caller = callerOf(request)
    const body = request.body
    if (body.tenant_id !== undefined) assertTenant(caller, body.tenant_id)
    if (body.since !== undefined && body.until !== undefined && Date.parse(body.since) >= Date.parse(body.until)) throw errorFor('badReplayRequest', 'body.since must be before body.until')
    const failOn = failOnOf(body.fail_on)
    const candidate = compileCandidate(body.files)
    const run = opts.runs.start({
      owner: ownerOf(caller),
      candidate,
      failOn,
      examplesPerCell: body.examples ?? 5,
      maxSeconds: body.max_seconds ?? 60,
      since: body.since === undefined ? undefined : new Date(body.since).toISOString(),
      until: body.until === undefined ? undefined : new Date(body.until).toISOString(),
      tenantId: body.tenant_id,
      tenants: tenantFilter(caller)
    })
    if (run === undefined) throw errorFor('replaysBusy', MAX_RUNNING_REPLAYS)
    request.log.info({ replayId: run.replay_id, candidate: candidate.snapshotId }, 'policy replay started')
    return await reply.code(202).header('location', `/policies/replay/${run.replay_id}`).send(view(run))
  })

  app.get<{ Params: { replay_id: string } }>('/policies/replay/:replay_id', {
    config: { access: AUDITOR },
    schema: replayGetRoute
  }, async (request) => {
    const caller = callerOf(request)
    const run = opts.runs.get(request.params.replay_id)
    // Another key's replay is answered as none: its window and tenants are not this caller's to learn.
    if (run === undefined || (run.owner !== ownerOf(caller) && !hasRole(caller, ['admin']))) throw errorFor('noReplay', request.params.replay_id)
    return view(run)
  })

  app.get('/policies/shadow', {
    config: { access: AUDITOR, allTenants: true },
    schema: shadowReportRoute
  }, async () => {
    const live = opts.policies.isLoaded ? opts.policies.current.snapshotId : undefined
    if (opts.shadow === undefined) {
      return { enabled: false, candidate_snapshot: null, live_snapshot: live ?? null, since: null, evaluated: 0, disagreements: 0, matrix: [], by_rule: [], samples: [], last_reload_error: null, errors: 0 }
    }
    return { ...opts.shadow.report.report(live), last_reload_error: opts.shadow.policies.status().last_reload_error }
  })
}

function view (run: ReplayRun): Omit<ReplayRun, 'owner'> {
  const { owner: _owner, ...shown } = run
  return shown
}

function failOnOf (spec: string | undefined): FailOn[] {
  try {
    return parseFailOn(spec ?? '')
  } catch (err) {
    throw errorFor('badReplayRequest', `body.fail_on: ${(err as Error).message}`)
  }
}

/** The candidate as a policy directory holding `files` would load: in name order, each name once. */
function compileCandidate (files: readonly PolicySource[]): CompiledPolicy {
  const sorted = [...files].sort((a, b) => a.file < b.file ? -1 : a.file > b.file ? 1 : 0)
  const suite = sorted.find((f) => !isPolicyFile(f.file))
  if (suite !== undefined) throw errorFor('badReplayRequest', `body.files: ${suite.file} is a test suite, not a policy file`)
  const twice = sorted.find((f, i) => i > 0 && sorted[i - 1].file === f.file)
  if (twice !== undefined) throw errorFor('badReplayRequest', `body.files names ${twice.file} more than once`)
  const result = compilePolicy(sorted)
  if (!result.ok) throw errorFor('policyInvalid', `the candidate policy does not load (${result.problems.length} problem(s))`, result.problems.map(formatProblem))
  return result.policy
}

/**
 * Authentication and role checks for every route, before the body is even read. Each route
 * declares `config.access`: 'public' (health probes only) or the roles that may call it; a
 * route that declares neither fails registration, so none can be left open by omission.
 * Tenancy is enforced where the tenant is known (in the routes), through `callerOf`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { errorBodyFor, errorCausedBy, errorFor } from '../errors/index.js'
import { DEFAULT_TENANT } from '../policy/job.js'
import type { FailureLimiter } from './failure-limiter.js'
import type { KeyLookup } from './key-lookup.js'
import type { Role } from '../domain/roles.js'
import { allTenants, coversTenant, hasRole, speaksForJob, UNAUTHENTICATED, type Principal } from './principal.js'
import { bearerToken, hashesMatch, identifyToken, isTokenShaped } from './tokens.js'
import { bindLogFields } from '../http/request-log.js'

export type Access = 'public' | readonly Role[]

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access
    /** What the route shows or does concerns every tenant: only keys that reach all of them may call it. */
    allTenants?: boolean
  }
  interface FastifyRequest {
    /** The authenticated caller; null only on public routes. */
    principal: Principal | null
  }
}

export type AuthFailure = 'missing' | 'invalid' | 'rate_limited' | 'forbidden'

export interface AuthOptions {
  keys: KeyLookup
  enabled: boolean
  limiter: FailureLimiter
  /** How long the key lookup may take before the request is answered 503. */
  timeoutMs: number
  onFailure?: (reason: AuthFailure) => void
}

/** The caller of a non-public route. */
export function callerOf (request: FastifyRequest): Principal {
  // Unreachable while every non-public route runs the hook below; fail closed if one did not.
  if (request.principal === null) throw errorFor('unauthenticatedHandler')
  return request.principal
}

/**
 * Refuses a tenant outside the caller's scope the way an unknown tenant would be refused, so a
 * tenant's name and existence do not leak to other tenants' keys.
 */
export function assertTenant (p: Principal, tenantId: string): void {
  if (!coversTenant(p, tenantId)) throw errorFor('noTenant', tenantId)
}

/**
 * The tenant a request about one job names (`default` when none), once the caller may reach it
 * (a tenant beyond the key is refused as an unknown one); its log lines name tenant and job.
 */
export function jobTenant (request: FastifyRequest, reply: FastifyReply, tenantId: string | undefined, jobId: string): string {
  const tenant = tenantId ?? DEFAULT_TENANT
  assertTenant(callerOf(request), tenant)
  bindLogFields(request, reply, { tenantId: tenant, jobId })
  return tenant
}

/** Refuses a job for an agent principal the caller's key may not speak for. */
export function assertSpeaksFor (p: Principal, agentId: string | undefined): void {
  if (!speaksForJob(p, agentId)) throw agentId === undefined ? errorFor('unnamedPrincipal') : errorFor('foreignPrincipal', agentId)
}

export function registerAuth (app: FastifyInstance, opts: AuthOptions): void {
  app.decorateRequest('principal', null)
  app.addHook('onRoute', (route) => {
    const access = route.config?.access
    if (access !== 'public' && !(Array.isArray(access) && access.length > 0)) {
      throw new Error(`route ${String(route.method)} ${route.url} declares no config.access`)
    }
  })

  app.addHook('onRequest', async (request, reply) => {
    // An unknown route still needs a key, so that which routes exist is no one else's business.
    const access = request.routeOptions.config.access
    if (access === 'public') return
    if (!opts.enabled && !isLoopbackName(request.hostname)) {
      // Without keys, only a loopback name is served: a web page that rebinds its own name to
      // 127.0.0.1 must not be able to drive Arbiter from a browser.
      return await reply.code(403).send(errorBodyFor('remoteWithoutAuth'))
    }
    const principal = opts.enabled ? await authenticate(request, reply, opts) : UNAUTHENTICATED
    if (principal === undefined) return reply
    request.principal = principal
    bindLogFields(request, reply, { principal: principal.principalId, key_id: principal.keyId })
    if (Array.isArray(access) && !hasRole(principal, access)) {
      opts.onFailure?.('forbidden')
      return await reply.code(403).send(errorBodyFor('roleRefused', principal.roles, request.method, request.routeOptions.url ?? '', access))
    }
    if (request.routeOptions.config.allTenants === true && !allTenants(principal)) {
      opts.onFailure?.('forbidden')
      return await reply.code(403).send(errorBodyFor('needsAllTenants', request.method, request.routeOptions.url ?? ''))
    }
  })
}

/**
 * The caller, or undefined once `reply` has been sent a 401 or 429 (a key store that does not
 * answer throws, for a 503). A valid key is always let through: the failure limit only turns
 * an address's further bad tokens into 429s, so that others behind the same address (a NAT, a
 * proxy) are never locked out by one of them.
 */
async function authenticate (request: FastifyRequest, reply: FastifyReply, opts: AuthOptions): Promise<Principal | undefined> {
  const address = request.ip
  const fail = async (reason: 'missing' | 'invalid'): Promise<undefined> => {
    const wait = opts.limiter.blockedFor(address)
    if (wait > 0) {
      opts.onFailure?.('rate_limited')
      await reply.code(429).header('retry-after', String(Math.ceil(wait / 1000)))
        .send(errorBodyFor('tooManyFailures'))
      return undefined
    }
    opts.limiter.recordFailure(address)
    opts.onFailure?.(reason)
    await reply.code(401).header('www-authenticate', 'Bearer').send(errorBodyFor(reason === 'missing' ? 'missingToken' : 'invalidToken'))
    return undefined
  }
  const token = bearerToken(request.headers.authorization)
  if (token === undefined) return await fail('missing')
  // One answer for every bad token: unknown, revoked and mistyped look alike.
  if (!isTokenShaped(token)) return await fail('invalid')
  const id = identifyToken(token)
  const row = await opts.keys.get(id.keyId, opts.timeoutMs).catch((err: unknown) => {
    throw errorCausedBy(err, 'keyStoreUnavailable')
  })
  if (row === undefined || !hashesMatch(id.hash, row.token_hash) || row.revoked_at !== null) return await fail('invalid')
  return { keyId: row.key_id, principalId: row.principal_id, roles: row.roles, tenants: row.tenants, agents: row.agents, kind: row.kind }
}

/** The Host of a request Arbiter serves while authentication is disabled. */
function isLoopbackName (hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
}

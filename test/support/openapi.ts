/**
 * openapi.yaml, read for the tests that hold the app to it: the spec loaded and compiled (its
 * `$ref`s resolve in it), its operations walked, its schemas and the routes' put in one form to
 * compare, and an answer checked against what the spec documents for it.
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import Fastify, { type FastifyInstance, type RouteOptions } from 'fastify'
import yaml from 'js-yaml'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import type { Test } from 'tap'
import { PACKAGE_ROOT } from '../../src/paths.js'
import { approvalRoutes } from '../../src/routes/approvals.js'
import { auditRoutes } from '../../src/routes/audit.js'
import { checkRoutes } from '../../src/routes/check.js'
import { consoleAssetRoutes } from '../../src/routes/console-assets.js'
import { consoleRoutes } from '../../src/routes/console.js'
import { grantRoutes } from '../../src/routes/grants.js'
import { healthRoutes } from '../../src/routes/health.js'
import { jobRoutes } from '../../src/routes/jobs.js'
import { outputRoutes } from '../../src/routes/output.js'
import { keyRoutes } from '../../src/routes/keys.js'
import { metricsRoutes } from '../../src/routes/metrics.js'
import { notificationRoutes } from '../../src/routes/notifications.js'
import { policyRoutes } from '../../src/routes/policies.js'
import { policyChangeRoutes } from '../../src/routes/policy-changes.js'
import { readRoutes } from '../../src/routes/read.js'
import { SHARED_SCHEMAS } from '../../src/schemas/index.js'

export type Schema = Record<string, unknown>
export interface MediaType { schema?: Schema, example?: unknown, examples?: Record<string, { value: unknown }> }
export interface Response { $ref?: string, headers?: Record<string, { required?: boolean, schema: Schema }>, content?: Record<string, MediaType> }
export interface Parameter { name: string, in: string, required?: boolean, schema: Schema, example?: unknown }
export interface Operation {
  description?: string
  security?: unknown[]
  requestBody?: { required?: boolean, content: Record<string, MediaType> }
  parameters?: Parameter[]
  responses: Record<string, Response>
}
export interface Spec {
  openapi: string
  security?: unknown[]
  info: { version: string }
  paths: Record<string, Record<string, Operation>>
  components: { schemas: Record<string, Schema>, responses: Record<string, Response>, securitySchemes?: Record<string, Record<string, unknown>> }
}

const SPEC_ID = 'https://arbiter.invalid/openapi.yaml'
export const spec = yaml.load(readFileSync(path.join(PACKAGE_ROOT, 'openapi.yaml'), 'utf8')) as Spec
export const JSON_TYPE = 'application/json'
/** The one answer that is not JSON: Prometheus' text format. */
export const METRICS_TYPE = 'text/plain'
/** The web console's files: its 200s are HTML, scripts, styles and images, not JSON. */
export const CONSOLE_TYPES: Record<string, string[]> = { '/console': ['text/html'], '/console/{file}': ['text/html', 'text/javascript', 'text/css', 'image/svg+xml'] }
/** What the authentication hook answers on every route that is not public, whatever the route declares. */
export const AUTH_STATUSES = ['401', '403', '429']
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']
/** The schemas buildApp registers by `$id`, which the routes reference as `Name#`. */
const SHARED = new Set<string>(SHARED_SCHEMAS.map((s) => s.$id))

// ajv-formats is not a dependency: the two formats the spec uses are checked here instead, and
// strict mode makes any other format in the spec fail to compile rather than pass unchecked.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i
const ajv = new Ajv2020({
  strict: true,
  allErrors: true,
  formats: { uuid: UUID, 'date-time': (s: string) => DATE_TIME.test(s) && !Number.isNaN(Date.parse(s)) }
})
// The document's own top-level fields, and OpenAPI's `example` annotation, are not JSON Schema.
ajv.addVocabulary(['openapi', 'info', 'jsonSchemaDialect', 'servers', 'paths', 'webhooks', 'components', 'security', 'tags', 'externalDocs', 'example'])
ajv.addSchema(spec as unknown as Schema, SPEC_ID)

const validators = new Map<string, ValidateFunction>()
/** A validator for the schema at `pointer` (a JSON pointer into the spec); its `$ref`s resolve in the spec. */
export function validatorAt (pointer: string): ValidateFunction {
  let v = validators.get(pointer)
  if (v === undefined) {
    v = ajv.compile({ $ref: `${SPEC_ID}#${pointer}` })
    validators.set(pointer, v)
  }
  return v
}

export const escape = (s: string): string => s.replaceAll('~', '~0').replaceAll('/', '~1')
const refName = (ref: string, kind: 'schemas' | 'responses'): string => {
  const prefix = `#/components/${kind}/`
  if (!ref.startsWith(prefix)) throw new Error(`unexpected $ref ${ref}`)
  return ref.slice(prefix.length)
}

/** Follows a response `$ref`; returns the response object and the JSON pointer where it lives. */
export function resolveResponse (response: Response, pointer: string): { response: Response, pointer: string } {
  if (response.$ref === undefined) return { response, pointer }
  const name = refName(response.$ref, 'responses')
  const target = spec.components.responses[name]
  if (target === undefined) throw new Error(`dangling $ref ${response.$ref}`)
  return { response: target, pointer: `/components/responses/${escape(name)}` }
}

export function operation (method: string, template: string): Operation | undefined {
  return spec.paths[template]?.[method.toLowerCase()]
}

export function specOperations (): Array<{ method: string, template: string, op: Operation }> {
  return Object.entries(spec.paths).flatMap(([template, item]) => Object.entries(item)
    .filter(([method]) => METHODS.includes(method))
    .map(([method, op]) => ({ method: method.toUpperCase(), template, op })))
}

/** `/policies/snapshots/{snapshot_id}` → `/policies/snapshots/:snapshot_id` */
export const toFastifyPath = (template: string): string => template.replace(/\{([^}]+)\}/g, ':$1')
/** `/policies/snapshots/:snapshot_id` → `/policies/snapshots/{snapshot_id}` */
export const toTemplate = (url: string): string => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')

/**
 * The routes an app serves, from `printRoutes({ commonPrefix: false })`: a tree of lines
 * `<branches><segment> (<METHODS>)` in which each segment continues its parent's path. Some
 * routes print in ways this misreads (a wildcard loses its prefix): the caller checks every
 * route read back with `hasRoute`, so a misread fails the test instead of hiding a route.
 */
export function registeredRoutes (t: Test, app: FastifyInstance): string[] {
  const lines = app.printRoutes({ commonPrefix: false }).split('\n').filter((l) => l.trim() !== '')
  const routes: string[] = []
  const paths: string[] = []
  lines.forEach((line, i) => {
    const m = /^([│├└─\s]*)(\S.*?)(?: \(([A-Z]+(?:, [A-Z]+)*)\))?$/.exec(line)
    if (m === null) throw new Error(`cannot read route line ${JSON.stringify(line)}`)
    const depth = Math.round(m[1].length / 4)
    paths.length = depth
    paths[depth] = (paths[depth - 1] ?? '') + m[2]
    if (m[3] === undefined) {
      // A node without methods only groups the lines under it; anything else is a line misread.
      const next = /^[│├└─\s]*/.exec(lines[i + 1] ?? '')?.[0].length ?? 0
      t.ok(next > m[1].length, `route tree line ${JSON.stringify(line)} without methods has children`)
      return
    }
    for (const method of m[3].split(', ')) routes.push(`${method} ${paths[depth]}`)
  })
  return routes
}

/**
 * The routes as the route modules declare them, captured with an onRoute hook on a bare
 * instance (buildApp registers its routes before a test could add the hook). The registration
 * functions only keep their dependencies for the handlers, which never run here.
 */
export function declaredRoutes (): RouteOptions[] {
  const probe = Fastify()
  const routes: RouteOptions[] = []
  probe.addHook('onRoute', (route) => { if (route.method !== 'HEAD') routes.push(route) })
  const unused = undefined as never
  healthRoutes(probe, { db: unused, policies: unused, timeoutMs: 1 })
  checkRoutes(probe, { service: unused, budgetMs: 1 })
  policyRoutes(probe, { policies: unused, db: unused })
  jobRoutes(probe, { writer: unused, clock: unused, metrics: unused, budgetMs: 1 })
  outputRoutes(probe, { writer: unused, clock: unused, policy: unused, key: unused, budgetMs: 1 })
  approvalRoutes(probe, { approvals: unused, db: unused, clock: unused, budgetMs: 1 })
  grantRoutes(probe, { grants: unused, clock: unused, budgetMs: 1 })
  readRoutes(probe, { db: unused })
  auditRoutes(probe, { db: unused })
  keyRoutes(probe, { db: unused, keys: unused })
  metricsRoutes(probe, { metrics: unused })
  notificationRoutes(probe, { db: unused })
  policyChangeRoutes(probe, { runs: unused, policies: unused, shadow: unused })
  consoleRoutes(probe, { db: unused, clock: unused })
  consoleAssetRoutes(probe)
  return routes
}

const SCHEMA_MAPS = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas'])
const SCHEMA_LISTS = new Set(['oneOf', 'anyOf', 'allOf', 'prefixItems'])
const SUBSCHEMAS = new Set(['items', 'additionalProperties', 'propertyNames', 'contains', 'not', 'if', 'then', 'else', 'unevaluatedProperties', 'unevaluatedItems'])
const ANNOTATIONS = new Set(['description', 'title', 'example', 'examples', '$comment', 'deprecated', 'readOnly', 'writeOnly'])

/** Rebuilds a schema, passing every schema object in it (itself included) through `each` first. */
function walk (schema: unknown, each: (s: Schema) => Schema): unknown {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) return schema
  const out: Schema = {}
  for (const [k, v] of Object.entries(each(schema as Schema))) {
    if (SCHEMA_MAPS.has(k)) out[k] = Object.fromEntries(Object.entries(v as Schema).map(([name, sub]) => [name, walk(sub, each)]))
    else if (SCHEMA_LISTS.has(k)) out[k] = (v as unknown[]).map((sub) => walk(sub, each))
    else if (SUBSCHEMAS.has(k)) out[k] = walk(v, each)
    else if (ANNOTATIONS.has(k) || k === '$id') continue
    else out[k] = v
  }
  return out
}

/** A route schema without `$id`s and annotations. */
export const fromRoute = (schema: unknown): unknown => walk(schema, (s) => s)

/**
 * A spec schema as a route would write it: refs to the shared schemas (which the app registers
 * by `$id`) become `Name#`; refs to the spec's other components are inlined.
 */
export function fromSpec (schema: unknown): unknown {
  return walk(schema, function each (s: Schema): Schema {
    if (typeof s.$ref !== 'string') return s
    const name = refName(s.$ref, 'schemas')
    if (Object.keys(s).length !== 1) throw new Error(`$ref ${s.$ref} has siblings; the routes never write that`)
    if (SHARED.has(name)) return { $ref: `${name}#` }
    const target = spec.components.schemas[name]
    if (target === undefined) throw new Error(`dangling $ref ${s.$ref}`)
    return each(target)
  })
}

export const jsonSchemaOf = (response: Response): Schema | undefined => response.content?.[JSON_TYPE]?.schema

/**
 * An operation's path or query parameters as the one object schema a route declares for them
 * (undefined when it has none); a querystring without required parameters states no `required`.
 */
export function parametersSchema (op: Operation, where: 'path' | 'query'): unknown {
  const parameters = (op.parameters ?? []).filter((p) => p.in === where)
  if (parameters.length === 0) return undefined
  const required = parameters.filter((p) => p.required === true).map((p) => p.name)
  return {
    type: 'object',
    ...(where === 'query' && required.length === 0 ? {} : { required }),
    additionalProperties: false,
    properties: Object.fromEntries(parameters.map((p) => [p.name, fromSpec(p.schema)]))
  }
}

/**
 * Who may call an operation, as its description says in a line like
 * "**Role:** `scheduler`, `reviewer` or `auditor` (or `admin`), with a key whose tenants are `*`".
 */
export function documentedAccess (op: Operation): { roles: string[], allTenants: boolean } {
  const roleLine = /\*\*Role:\*\*([^\n]*(?:\n(?!\n)[^\n]*)*)/.exec(op.description ?? '')?.[1] ?? ''
  const roles = [...roleLine.split('.')[0].matchAll(/`(scheduler|reviewer|auditor|admin)`/g)].map((m) => m[1]).sort()
  return { roles, allTenants: /tenants are `\*`/.test(roleLine) }
}
export const ERROR = { $ref: 'Error#' }

/** An HTTP answer: what `app.inject` resolves to, or one read off a socket. */
export interface Answer { statusCode: number, headers: Record<string, unknown>, body: string, json: () => unknown }

/**
 * Asserts that `res` is an answer the spec documents for this operation (`template` null: for
 * no route), in the media type documented for its status (JSON but for /metrics), that its body
 * validates against the schema given for it, and its headers. Returns the parsed JSON body, or
 * `{}` for an answer that is not JSON.
 */
export function assertDocumented (t: Test, res: Answer, method: string, template: string | null): Record<string, unknown> {
  const status = String(res.statusCode)
  const label = `${method} ${template ?? '(no route)'} → ${status}`
  let found: { response: Response, pointer: string } | undefined
  if (template === null) {
    // No operation answers an unknown route: the spec describes that answer once, in components.
    found = resolveResponse({ $ref: '#/components/responses/NotFound' }, '')
    t.equal(status, '404', `${label}: an unknown route is a 404`)
  } else {
    const response = operation(method, template)?.responses[status]
    if (response !== undefined) found = resolveResponse(response, `/paths/${escape(template)}/${method.toLowerCase()}/responses/${status}`)
  }
  if (found === undefined) {
    t.fail(`${label} is not documented`, { body: res.body })
    return {}
  }
  const type = Object.keys(found.response.content ?? {})[0] ?? JSON_TYPE
  t.equal(String(res.headers['content-type']).split(';')[0], type, `${label}: ${type}`)
  const validate = validatorAt(`${found.pointer}/content/${escape(type)}/schema`)
  const body = type === JSON_TYPE ? res.json() : res.body
  t.ok(validate(body), `${label}: body matches the spec`, { errors: validate.errors, body })
  for (const [name, header] of Object.entries(found.response.headers ?? {})) {
    const raw = res.headers[name.toLowerCase()]
    if (header.required === true) t.ok(raw !== undefined, `${label}: ${name} header is sent`)
    if (raw === undefined) continue
    const value = header.schema.type === 'integer' && /^-?\d+$/.test(String(raw)) ? Number(raw) : raw
    t.ok(ajv.validate(header.schema, value), `${label}: ${name}: ${String(raw)} matches the spec`)
  }
  return type === JSON_TYPE ? body as Record<string, unknown> : {}
}

/**
 * Policy test suites (`*.test.yaml`): cases of request (and, for rate limits, what the window
 * has already admitted) → expected decision, rule id, constraints and approval requirement,
 * run against a compiled policy; and which rules the cases reach. Pure: the CLI reads the files.
 */
import { Ajv } from 'ajv'
import yaml from 'js-yaml'
import type { CompiledPolicy } from './compile.js'
import { evaluate } from './evaluate.js'
import { normalizeJob, type CheckRequest } from './job.js'
import { checkRequestSchema } from './request-schema.js'
import { DECISIONS, type ApprovalRequirement, type Constraints, type Decision, type Evaluation } from './types.js'

export interface TestCase {
  name: string
  request: CheckRequest
  /**
   * Jobs already admitted in the window under the key of each rate-limited rule the job
   * matches: one count for all of them, or a count per rule id (others: none).
   */
  given?: { admitted: number | Record<string, number> }
  expect: { decision: Decision, rule_id?: string | null, constraints?: Constraints | null, matched_rules?: string[], approval?: Partial<ApprovalRequirement> }
}

export interface CaseResult {
  file: string
  name: string
  /** The rule that decided (null: the default). */
  rule_id: string | null
  failures: string[]
}

/** How many cases each rule of the policy decided, in rule order. */
export interface RuleCoverage {
  rule: string
  file: string
  cases: number
}

const { $id: _id, ...requestSchema } = checkRequestSchema
const suiteSchema = {
  type: 'object',
  required: ['cases'],
  additionalProperties: false,
  properties: {
    description: { type: 'string' },
    cases: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['name', 'request', 'expect'],
        additionalProperties: false,
        properties: {
          name: { type: 'string', minLength: 1 },
          request: requestSchema,
          given: {
            type: 'object',
            required: ['admitted'],
            additionalProperties: false,
            properties: {
              admitted: {
                oneOf: [
                  { type: 'integer', minimum: 0 },
                  { type: 'object', additionalProperties: { type: 'integer', minimum: 0 } }
                ]
              }
            }
          },
          expect: {
            type: 'object',
            required: ['decision'],
            additionalProperties: false,
            properties: {
              decision: { enum: DECISIONS },
              rule_id: { type: ['string', 'null'] },
              constraints: { type: ['object', 'null'] },
              matched_rules: { type: 'array', items: { type: 'string' } },
              approval: {
                type: 'object',
                additionalProperties: false,
                properties: {
                  approvers: { type: 'integer' },
                  roles: { type: 'array', items: { type: 'array', items: { type: 'string' } } },
                  ttl_sec: { type: 'integer' },
                  dispatch_window_sec: { type: 'integer' },
                  single_flight: { enum: ['session'] }
                }
              }
            }
          }
        }
      }
    }
  }
}
const validateSuite = new Ajv({ allErrors: true, strict: false }).compile<{ cases: TestCase[] }>(suiteSchema)

/** Parses one suite; throws with the file name on malformed YAML or cases. */
export function parseSuite (file: string, text: string): TestCase[] {
  const doc = yaml.load(text, { filename: file, schema: yaml.CORE_SCHEMA })
  if (!validateSuite(doc)) {
    const detail = (validateSuite.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`).join('; ')
    throw new Error(`${file}: not a valid test suite: ${detail}`)
  }
  return doc.cases
}

/** Runs cases; a case fails on any difference from what it expects. */
export function runSuite (policy: CompiledPolicy, file: string, cases: readonly TestCase[]): CaseResult[] {
  return cases.map((c) => {
    const failures: string[] = []
    const ev = evaluateGiven(policy, c, failures)
    const differ = (what: string, want: unknown, got: unknown): void => {
      if (JSON.stringify(want) !== JSON.stringify(got)) failures.push(`${what}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`)
    }
    differ('decision', c.expect.decision, ev.decision)
    if (c.expect.rule_id !== undefined) differ('rule_id', c.expect.rule_id, ev.rule_id)
    if (c.expect.matched_rules !== undefined) differ('matched_rules', c.expect.matched_rules, ev.matched_rules)
    if (c.expect.constraints !== undefined) differ('constraints', sortKeys(c.expect.constraints), sortKeys(ev.constraints ?? null))
    // Only the settings a case names are compared: a case about approvers need not restate the clocks.
    for (const [k, want] of Object.entries(c.expect.approval ?? {})) differ(`approval.${k}`, want, ev.approval?.[k as keyof ApprovalRequirement])
    return { file, name: c.name, rule_id: ev.rule_id, failures }
  })
}

/**
 * Evaluates as the service does, with the window's counts given instead of read: a job that is
 * neither denied nor throttled is admitted, unless a key it counts under already holds `max`
 * jobs; then it is evaluated again with those rules over their limit. The wait is the whole
 * window (the case gives counts, not times).
 */
function evaluateGiven (policy: CompiledPolicy, c: TestCase, failures: string[]): Evaluation {
  const job = normalizeJob(c.request)
  const ev = evaluate(policy, job)
  const admitted = c.given?.admitted
  if (admitted === undefined) return ev
  if (typeof admitted === 'object') {
    const limited = new Set(policy.rules.filter((r) => r.rateLimit !== undefined).map((r) => r.id))
    for (const id of Object.keys(admitted)) if (!limited.has(id)) failures.push(`given.admitted: '${id}' is not a rate-limited rule of the policy`)
  }
  if (ev.decision === 'DENY' || ev.decision === 'THROTTLE') return ev
  const exceeded = new Map<string, number>()
  for (const use of ev.rate_limits) {
    const count = typeof admitted === 'number' ? admitted : admitted[use.rule_id] ?? 0
    if (count >= use.max) exceeded.set(use.rule_id, use.window_sec * 1000)
  }
  return exceeded.size === 0 ? ev : evaluate(policy, job, { exceeded })
}

/** Which rules decided how many of the cases; a rule with none is one no case reaches. */
export function ruleCoverage (policy: CompiledPolicy, results: readonly CaseResult[]): RuleCoverage[] {
  const decided = new Map<string, number>()
  for (const r of results) if (r.rule_id !== null) decided.set(r.rule_id, (decided.get(r.rule_id) ?? 0) + 1)
  return policy.rules.map((rule) => ({ rule: rule.id, file: rule.file, cases: decided.get(rule.id) ?? 0 }))
}

function sortKeys (o: object | null): unknown {
  return o === null ? null : Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)))
}

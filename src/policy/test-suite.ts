/**
 * Policy test suites (`*.test.yaml`): cases of request → expected decision, rule id,
 * constraints and approval requirement, run against a compiled policy. Pure: the CLI reads the files.
 */
import { Ajv } from 'ajv'
import yaml from 'js-yaml'
import type { CompiledPolicy } from './compile.js'
import { evaluate } from './evaluate.js'
import { normalizeJob, type CheckRequest } from './job.js'
import { checkRequestSchema } from './request-schema.js'
import { DECISIONS, type ApprovalRequirement, type Constraints, type Decision } from './types.js'

export interface TestCase {
  name: string
  request: CheckRequest
  expect: { decision: Decision, rule_id?: string | null, constraints?: Constraints | null, matched_rules?: string[], approval?: Partial<ApprovalRequirement> }
}

export interface CaseResult {
  file: string
  name: string
  failures: string[]
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
                  dispatch_window_sec: { type: 'integer' }
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
    const ev = evaluate(policy, normalizeJob(c.request))
    const failures: string[] = []
    const differ = (what: string, want: unknown, got: unknown): void => {
      if (JSON.stringify(want) !== JSON.stringify(got)) failures.push(`${what}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`)
    }
    differ('decision', c.expect.decision, ev.decision)
    if (c.expect.rule_id !== undefined) differ('rule_id', c.expect.rule_id, ev.rule_id)
    if (c.expect.matched_rules !== undefined) differ('matched_rules', c.expect.matched_rules, ev.matched_rules)
    if (c.expect.constraints !== undefined) differ('constraints', sortKeys(c.expect.constraints), sortKeys(ev.constraints ?? null))
    // Only the settings a case names are compared: a case about approvers need not restate the clocks.
    for (const [k, want] of Object.entries(c.expect.approval ?? {})) differ(`approval.${k}`, want, ev.approval?.[k as keyof ApprovalRequirement])
    return { file, name: c.name, failures }
  })
}

function sortKeys (o: object | null): unknown {
  return o === null ? null : Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)))
}

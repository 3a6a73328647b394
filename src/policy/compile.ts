/**
 * Validated policy files → one immutable, indexed policy. Collects every problem in every file
 * before failing, so a policy never half-loads.
 */
import stableStringify from 'fast-json-stable-stringify'
import { compileGlob, type Glob } from './glob.js'
import { sha256Hex } from './hash.js'
import { parsePolicyFile, type PolicyProblem } from './parse.js'
import { TopicIndex } from './topic-index.js'
import type { ApprovalSpec, Constraints, Decision, PolicyFileSpec, PolicySource, RuleSpec } from './types.js'

export interface CompiledRule {
  readonly index: number
  readonly id: string
  readonly file: string
  readonly decision: Decision
  readonly reason: string
  readonly constraints?: Readonly<Constraints>
  readonly approval?: Readonly<ApprovalSpec>
  readonly topics?: readonly Glob[]
  /** `null`: the rule asks for a job with no risk tags at all. */
  readonly riskTags?: ReadonlySet<string> | null
  readonly tenants?: readonly Glob[]
  readonly principals?: readonly Glob[]
  readonly labels?: ReadonlyArray<readonly [string, ReadonlySet<string>]>
}

export interface CompiledPolicy {
  /** `sha256:` + hex of the canonical compiled policy. */
  readonly snapshotId: string
  readonly version: 'v1'
  readonly canonical: string
  readonly defaults: { readonly decision: Decision, readonly reason: string }
  readonly rules: readonly CompiledRule[]
  readonly index: TopicIndex
  readonly sources: readonly PolicySource[]
}

export type CompileResult =
  | { ok: true, policy: CompiledPolicy }
  | { ok: false, problems: PolicyProblem[] }

const DEFAULT_REASON = 'no rule matched; the policy default applies'

/** Compiles the files of one policy (in the order given, which is file order for ties). */
export function compilePolicy (sources: readonly PolicySource[]): CompileResult {
  const problems: PolicyProblem[] = []
  if (sources.length === 0) problems.push({ file: '(policy)', message: 'no policy files found' })
  const rules: Array<{ spec: RuleSpec, file: string, line?: number }> = []
  const seen = new Map<string, string>()
  let defaults: { spec: NonNullable<PolicyFileSpec['defaults']>, file: string } | undefined

  for (const source of sources) {
    const parsed = parsePolicyFile(source.file, source.text)
    problems.push(...parsed.problems)
    if (parsed.spec === undefined) continue
    if (parsed.spec.defaults !== undefined) {
      if (defaults !== undefined) {
        problems.push({ file: source.file, line: parsed.lineOf(parsed.spec.defaults), message: `defaults are already set in ${defaults.file}; a policy has one set of defaults` })
      } else {
        defaults = { spec: parsed.spec.defaults, file: source.file }
      }
    }
    for (const spec of parsed.spec.rules) {
      const line = parsed.lineOf(spec)
      const where = seen.get(spec.id)
      if (where !== undefined) {
        problems.push({ file: source.file, line, rule: spec.id, message: `duplicate rule id (first defined at ${where})` })
        continue
      }
      seen.set(spec.id, `${source.file}:${line ?? '?'}`)
      rules.push({ spec, file: source.file, line })
    }
  }
  if (problems.length > 0) return { ok: false, problems }

  const index = new TopicIndex()
  const compiled = rules.map(({ spec, file }, i) => {
    const rule = compileRule(spec, file, i)
    for (const glob of rule.topics ?? [{ literalPrefix: [] }]) index.add(glob.literalPrefix, i)
    return rule
  })
  const defaultSpec = defaults?.spec ?? { decision: 'deny' as const }
  const canonical = stableStringify({
    version: 'v1',
    defaults: defaultSpec,
    rules: rules.map(({ spec }) => ({ ...spec, description: undefined }))
  })
  const policy: CompiledPolicy = Object.freeze({
    snapshotId: `sha256:${sha256Hex(canonical)}`,
    version: 'v1' as const,
    canonical,
    defaults: Object.freeze({ decision: toDecision(defaultSpec.decision, false), reason: defaultSpec.reason ?? DEFAULT_REASON }),
    rules: Object.freeze(compiled),
    index,
    sources: Object.freeze(sources.map((s) => Object.freeze({ ...s })))
  })
  return { ok: true, policy }
}

function toDecision (d: RuleSpec['decision'], constrained: boolean): Decision {
  if (d === 'allow' && constrained) return 'ALLOW_WITH_CONSTRAINTS'
  return d.toUpperCase() as Decision
}

function compileRule (spec: RuleSpec, file: string, index: number): CompiledRule {
  const m = spec.match
  const decision = toDecision(spec.decision, spec.constraints !== undefined)
  return Object.freeze({
    index,
    id: spec.id,
    file,
    decision,
    reason: spec.reason ?? `matched rule ${spec.id}`,
    constraints: spec.constraints === undefined ? undefined : Object.freeze({ ...spec.constraints }),
    approval: spec.approval === undefined ? undefined : Object.freeze({ ...spec.approval }),
    topics: m.topics?.map(compileGlob),
    riskTags: m.risk_tags === undefined ? undefined : m.risk_tags.length === 0 ? null : new Set(m.risk_tags),
    tenants: m.tenants?.map(compileGlob),
    principals: m.principals?.map(compileGlob),
    labels: m.labels === undefined
      ? undefined
      : Object.entries(m.labels).map(([k, v]) => [k, new Set(Array.isArray(v) ? v : [v])] as const)
  })
}

/**
 * Validated policy files → one immutable, indexed policy. Collects every problem in every file
 * before failing, so a policy never half-loads.
 */
import stableStringify from 'fast-json-stable-stringify'
import { FINDING_TYPES } from '../output/detectors.js'
import { compilePatternDetector, type PatternDetector } from '../output/pattern-detectors.js'
import type { VerdictTable } from '../output/scan.js'
import { DEFAULT_FINDING_VERDICTS } from './output-defaults.js'
import { compileGlob, type Glob } from './glob.js'
import { sha256Hex } from './hash.js'
import { parsePolicyFile, type PolicyProblem } from './parse.js'
import { TopicIndex } from './topic-index.js'
import { DEFAULT_PROTECTED_PATHS } from './shell/analyze.js'
import type { ApprovalSpec, CommandClass, Constraints, Decision, DeriveSpec, OutputRulesSpec, PolicyFileSpec, PolicySource, RateLimitSpec, RuleMatchSpec, RuleSpec } from './types.js'

/** The match fields of a rule or a derivation, compiled. */
export interface CompiledMatch {
  readonly topics?: readonly Glob[]
  /** `null`: the rule asks for a job with no risk tags at all. */
  readonly riskTags?: ReadonlySet<string> | null
  readonly tenants?: readonly Glob[]
  readonly principals?: readonly Glob[]
  readonly labels?: ReadonlyArray<readonly [string, ReadonlySet<string>]>
  readonly command?: readonly string[]
  readonly commandClasses?: ReadonlySet<CommandClass>
  /**
   * `all`: `command` and `command_class` hold only when every simple command of the line
   * matches (allow-style rules); `any`: when one does (deny, throttle, approval, derivations).
   */
  readonly commandScope: CommandScope
}

export type CommandScope = 'all' | 'any'

export interface CompiledRule extends CompiledMatch {
  readonly index: number
  readonly id: string
  readonly file: string
  readonly decision: Decision
  readonly reason: string
  readonly constraints?: Readonly<Constraints>
  readonly approval?: Readonly<ApprovalSpec>
  readonly rateLimit?: Readonly<RateLimitSpec>
  /** What a THROTTLE from a rule without a rate limit tells callers to wait. */
  readonly retryAfterMs: number
  readonly requireEvidence?: readonly string[]
  readonly onMissingEvidence: Decision
}

export interface CompiledDerivation extends CompiledMatch {
  readonly id: string
  readonly add: readonly string[]
}

export interface ShellSettings {
  readonly protectedPaths: readonly string[]
  readonly recursiveDeleteGuard: boolean
}

export interface OutputSettings {
  readonly maxOutputBytes: number
  readonly onOversize: 'quarantine' | 'scan_prefix'
  /** Built-in finding types and each policy detector's id. */
  readonly verdicts: VerdictTable
  readonly detectors: readonly PatternDetector[]
}

export interface CompiledPolicy {
  /** `sha256:` + hex of the canonical compiled policy. */
  readonly snapshotId: string
  readonly version: 'v1'
  readonly canonical: string
  readonly defaults: { readonly decision: Decision, readonly reason: string }
  readonly rules: readonly CompiledRule[]
  readonly derive: readonly CompiledDerivation[]
  readonly shell: ShellSettings
  readonly output: OutputSettings
  readonly index: TopicIndex
  readonly sources: readonly PolicySource[]
}

export type CompileResult =
  | { ok: true, policy: CompiledPolicy }
  | { ok: false, problems: PolicyProblem[] }

const DEFAULT_REASON = 'no rule matched; the policy default applies'
export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024
const DEFAULT_RETRY_AFTER_SEC = 60

/** Policy-wide sections a policy sets at most once, in whichever file. */
const SINGLE_SECTIONS = ['defaults', 'shell', 'output_rules'] as const
type Sections = { [K in typeof SINGLE_SECTIONS[number]]?: { spec: NonNullable<PolicyFileSpec[K]>, file: string } }

/** Compiles the files of one policy (in the order given, which is file order for ties). */
export function compilePolicy (sources: readonly PolicySource[]): CompileResult {
  const problems: PolicyProblem[] = []
  if (sources.length === 0) problems.push({ file: '(policy)', message: 'no policy files found' })
  const rules: Array<{ spec: RuleSpec, file: string, line?: number }> = []
  const derivations: DeriveSpec[] = []
  const seen = new Map<string, string>()
  const sections: Sections = {}
  let outputDetectors: PatternDetector[] = []

  for (const source of sources) {
    const parsed = parsePolicyFile(source.file, source.text)
    problems.push(...parsed.problems)
    if (parsed.spec === undefined) continue
    for (const name of SINGLE_SECTIONS) {
      const spec = parsed.spec[name]
      if (spec === undefined) continue
      const earlier = sections[name]
      if (earlier !== undefined) {
        problems.push({ file: source.file, line: parsed.lineOf(spec), message: `${name} is already set in ${earlier.file}; a policy sets it once` })
      } else {
        (sections as Record<string, unknown>)[name] = { spec, file: source.file }
      }
    }
    const unique = (id: string, line: number | undefined, what: string): boolean => {
      const where = seen.get(id)
      if (where !== undefined) {
        problems.push({ file: source.file, line, rule: id, message: `duplicate ${what} id (first defined at ${where})` })
        return false
      }
      seen.set(id, `${source.file}:${line ?? '?'}`)
      return true
    }
    if (parsed.spec.output_rules?.detectors !== undefined) {
      outputDetectors = compileOutputDetectors(parsed.spec.output_rules, source.file, parsed.lineOf, problems)
    }
    for (const spec of parsed.spec.derive ?? []) if (unique(spec.id, parsed.lineOf(spec), 'derive')) derivations.push(spec)
    for (const spec of parsed.spec.rules) {
      const line = parsed.lineOf(spec)
      if (unique(spec.id, line, 'rule')) rules.push({ spec, file: source.file, line })
    }
  }
  if (problems.length > 0) return { ok: false, problems }

  const index = new TopicIndex()
  const compiled = rules.map(({ spec, file }, i) => {
    const rule = compileRule(spec, file, i)
    for (const glob of rule.topics ?? [{ literalPrefix: [] }]) index.add(glob.literalPrefix, i)
    return rule
  })
  const defaultSpec = sections.defaults?.spec ?? { decision: 'deny' as const }
  const canonical = stableStringify({
    version: 'v1',
    defaults: defaultSpec,
    derive: derivations.length === 0 ? undefined : derivations.map((spec) => ({ ...spec, description: undefined })),
    shell: sections.shell?.spec,
    output_rules: sections.output_rules?.spec,
    rules: rules.map(({ spec }) => ({ ...spec, description: undefined }))
  })
  const policy: CompiledPolicy = Object.freeze({
    snapshotId: `sha256:${sha256Hex(canonical)}`,
    version: 'v1' as const,
    canonical,
    defaults: Object.freeze({ decision: toDecision(defaultSpec.decision, false), reason: defaultSpec.reason ?? DEFAULT_REASON }),
    rules: Object.freeze(compiled),
    derive: Object.freeze(derivations.map((d) => Object.freeze({ ...compileMatch(d.match), id: d.id, add: Object.freeze([...d.add]) }))),
    shell: shellSettings(sections.shell?.spec),
    output: outputSettings(sections.output_rules?.spec, outputDetectors),
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
  const decision = toDecision(spec.decision, spec.constraints !== undefined)
  const m = compileMatch(spec.match)
  // Spelled out, not spread: every rule gets one object shape, which keeps matching fast.
  return Object.freeze({
    topics: m.topics,
    riskTags: m.riskTags,
    tenants: m.tenants,
    principals: m.principals,
    labels: m.labels,
    command: m.command,
    commandClasses: m.commandClasses,
    commandScope: scopeOf(decision),
    index,
    id: spec.id,
    file,
    decision,
    reason: spec.reason ?? `matched rule ${spec.id}`,
    constraints: spec.constraints === undefined ? undefined : Object.freeze({ ...spec.constraints }),
    approval: spec.approval === undefined ? undefined : Object.freeze({ ...spec.approval }),
    rateLimit: spec.rate_limit === undefined ? undefined : Object.freeze({ ...spec.rate_limit, key: [...spec.rate_limit.key] }),
    retryAfterMs: (spec.retry_after_sec ?? DEFAULT_RETRY_AFTER_SEC) * 1000,
    requireEvidence: spec.require_evidence === undefined ? undefined : Object.freeze([...spec.require_evidence]),
    onMissingEvidence: toDecision(spec.on_missing_evidence ?? 'require_approval', false)
  })
}

/** An allow must hold for the whole command line; anything stricter for any part of it. */
export const scopeOf = (decision: Decision): CommandScope =>
  decision === 'ALLOW' || decision === 'ALLOW_WITH_CONSTRAINTS' ? 'all' : 'any'

function compileMatch (m: Omit<RuleMatchSpec, 'risk_tags'> & { risk_tags?: string[] }): CompiledMatch {
  return {
    commandScope: 'any',
    topics: m.topics?.map(compileGlob),
    riskTags: m.risk_tags === undefined ? undefined : m.risk_tags.length === 0 ? null : new Set(m.risk_tags),
    tenants: m.tenants?.map(compileGlob),
    principals: m.principals?.map(compileGlob),
    labels: m.labels === undefined
      ? undefined
      : Object.entries(m.labels).map(([k, v]) => [k, new Set(Array.isArray(v) ? v : [v])] as const),
    command: m.command === undefined ? undefined : Object.freeze([...m.command]),
    commandClasses: m.command_class === undefined ? undefined : new Set(m.command_class)
  }
}

function shellSettings (spec: PolicyFileSpec['shell']): ShellSettings {
  return Object.freeze({
    protectedPaths: Object.freeze([...new Set([...DEFAULT_PROTECTED_PATHS, ...(spec?.protected_paths ?? [])])]),
    recursiveDeleteGuard: spec?.recursive_delete_guard ?? true
  })
}

function outputSettings (spec: PolicyFileSpec['output_rules'], detectors: readonly PatternDetector[]): OutputSettings {
  return Object.freeze({
    maxOutputBytes: spec?.max_output_bytes ?? DEFAULT_MAX_OUTPUT_BYTES,
    onOversize: spec?.on_oversize ?? 'quarantine',
    verdicts: Object.freeze({ ...DEFAULT_FINDING_VERDICTS, ...spec?.findings, ...Object.fromEntries(detectors.map((d) => [d.id, d.verdict])) }),
    detectors: Object.freeze([...detectors])
  })
}

/** Compiles output_rules.detectors, reporting a bad or clashing one at its line. */
function compileOutputDetectors (spec: OutputRulesSpec, file: string, lineOf: (node: unknown) => number | undefined, problems: PolicyProblem[]): PatternDetector[] {
  const detectors: PatternDetector[] = []
  const taken = new Set<string>(FINDING_TYPES)
  for (const [i, d] of (spec.detectors ?? []).entries()) {
    const problem = (message: string): void => { problems.push({ file, line: lineOf(d), message: `output_rules.detectors[${i}] ${message}` }) }
    if (taken.has(d.id)) problem((FINDING_TYPES as readonly string[]).includes(d.id) ? `id '${d.id}' is a built-in finding type` : `id '${d.id}' is used twice`)
    taken.add(d.id)
    const compiled = compilePatternDetector(d)
    if ('error' in compiled) problem(compiled.error)
    else detectors.push(compiled.detector)
  }
  return detectors
}

/**
 * YAML text → validated policy file, with every problem located by file, line and rule.
 * Pure: the caller reads the files.
 */
import { Ajv, type ErrorObject } from 'ajv'
import yaml from 'js-yaml'
import policySchema from './policy.schema.json' with { type: 'json' }
import type { PolicyFileSpec } from './types.js'

export interface PolicyProblem {
  file: string
  line?: number
  rule?: string
  message: string
}

export function formatProblem (p: PolicyProblem): string {
  const where = p.line === undefined ? p.file : `${p.file}:${p.line}`
  return `${where}: ${p.rule === undefined ? '' : `rule ${p.rule}: `}${p.message}`
}

export interface ParsedFile {
  file: string
  spec?: PolicyFileSpec
  problems: PolicyProblem[]
  /** 1-based line of each mapping or sequence in the document. */
  lineOf: (node: unknown) => number | undefined
}

// verbose: an unknown key's error carries the schema that lists the names allowed beside it.
const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, strictRequired: false, allowUnionTypes: true })
const validateFile = ajv.compile<PolicyFileSpec>(policySchema)

/** Parses and schema-checks one policy file. */
export function parsePolicyFile (file: string, text: string): ParsedFile {
  const positions = new Positions()
  const lineOf = (node: unknown): number | undefined =>
    node !== null && typeof node === 'object' ? positions.lines.get(node) : undefined
  let doc: unknown
  try {
    doc = yaml.load(text, { filename: file, schema: yaml.CORE_SCHEMA, listener: positions.listener })
  } catch (err) {
    const e = err as yaml.YAMLException
    return { file, lineOf, problems: [{ file, line: e.mark?.line === undefined ? undefined : e.mark.line + 1, message: `YAML syntax: ${e.reason ?? e.message}` }] }
  }
  if (!validateFile(doc)) {
    const problems = (validateFile.errors ?? []).filter(relevant).map((e) => locate(file, doc, e, positions))
    return { file, lineOf, problems }
  }
  return { file, spec: doc, lineOf, problems: [] }
}

interface Frame { line: number, keys?: Map<string, number>, items: number[] }

/**
 * Lines of the document's nodes, its mapping keys and its sequence items, from js-yaml's
 * open/close events: each node closes into the node that was open around it. A scalar followed
 * by `:` is a key (js-yaml composes keys as nodes too).
 */
class Positions {
  readonly lines = new WeakMap<object, number>()
  readonly keys = new WeakMap<object, Map<string, number>>()
  readonly items = new WeakMap<object, number[]>()
  private readonly open: Frame[] = []

  readonly listener = (event: yaml.EventType, state: yaml.State): void => {
    if (event === 'open') {
      this.open.push({ line: state.line + 1, items: [] })
      return
    }
    const frame = this.open.pop() as Frame
    const result: unknown = state.result
    if (result !== null && typeof result === 'object') {
      this.lines.set(result, frame.line)
      // A flow collection in a block sequence closes twice; the inner close saw its keys.
      if (frame.keys !== undefined && !this.keys.has(result)) this.keys.set(result, frame.keys)
      if (Array.isArray(result) && !this.items.has(result)) this.items.set(result, frame.items)
    }
    const parent = this.open.at(-1)
    if (parent === undefined) return
    if (state.kind === 'scalar' && /^[ \t]*:/.test(state.input.slice(state.position, state.position + 64))) {
      (parent.keys ??= new Map()).set(String(result), frame.line)
    } else {
      parent.items.push(frame.line)
    }
  }

  /** The line of `node[key]`'s key (or item), else of the value, else undefined. */
  lineOfKey (node: object, key: string): number | undefined {
    const own = Array.isArray(node) ? this.items.get(node)?.[Number(key)] : this.keys.get(node)?.get(key)
    if (own !== undefined) return own
    const value: unknown = (node as Record<string, unknown>)[key]
    return value !== null && typeof value === 'object' ? this.lines.get(value) : undefined
  }
}

/** An `if` error only repeats what its `then` error already says. */
function relevant (e: ErrorObject): boolean {
  return e.keyword !== 'if'
}

/** Places an error on the line of the key it is about: the unknown one, or the last on its path. */
function locate (file: string, doc: unknown, e: ErrorObject, positions: Positions): PolicyProblem {
  const path = e.instancePath.split('/').slice(1).map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'))
  let node: unknown = doc
  let line = node !== null && typeof node === 'object' ? positions.lines.get(node) : undefined
  let rule: string | undefined
  for (let i = 0; i < path.length && node !== null && typeof node === 'object'; i++) {
    line = positions.lineOfKey(node, path[i]) ?? line
    node = (node as Record<string, unknown>)[path[i]]
    if (i === 1 && path[0] === 'rules' && node !== null && typeof node === 'object') {
      const id = (node as Record<string, unknown>).id
      if (typeof id === 'string') rule = id
    }
  }
  const culprit = offendingKey(e)
  if (culprit !== undefined && node !== null && typeof node === 'object') {
    const keys = Array.isArray(culprit) ? culprit.filter((k) => Object.hasOwn(node as object, k)) : [culprit]
    if (keys.length > 0) line = positions.lineOfKey(node, keys[0]) ?? line
  }
  return { file, line, rule, message: `${describePath(path)} ${describeError(e)}` }
}

/** The key inside the error's object that the error is about, when there is one. */
function offendingKey (e: ErrorObject): string | readonly string[] | undefined {
  if (e.keyword === 'additionalProperties') return String(e.params.additionalProperty)
  if (e.keyword === 'not') return NOT_MESSAGES.find(([path]) => e.schemaPath.startsWith(path))?.[2]
  return undefined
}

function describePath (path: string[]): string {
  if (path.length === 0) return 'document'
  return path.map((s, i) => (/^\d+$/.test(s) ? `[${s}]` : i === 0 ? s : `.${s}`)).join('')
}

/** The rule schema's `allOf` conditions, by position, in words (ajv names them relative to the rule). */
const NOT_MESSAGES: ReadonlyArray<readonly [string, string, readonly string[]]> = [
  ['#/allOf/0/', 'must not carry approval settings (only a rule that can require approval can)', ['approval']],
  ['#/allOf/2/', 'must not carry constraints (deny and throttle rules cannot be constrained)', ['constraints']],
  ['#/allOf/3/', 'must not carry rate_limit or retry_after_sec (only throttle rules can)', ['rate_limit', 'retry_after_sec']],
  ['#/allOf/4/', 'must not carry retry_after_sec with a rate_limit (the window says how long to wait)', ['retry_after_sec']],
  ['#/allOf/5/', 'must not require evidence (a deny rule denies anyway)', ['require_evidence']],
  ['#/allOf/6/', 'must not carry on_missing_evidence without require_evidence', ['on_missing_evidence']],
  ['#/allOf/7/', 'must not require evidence with a rate_limit (within its limit the rule does not fire; put the evidence on another rule)', ['require_evidence']]
]

function describeError (e: ErrorObject): string {
  switch (e.keyword) {
    case 'additionalProperties': {
      const name = String(e.params.additionalProperty)
      const nearest = nearestName(name, Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {}))
      return `has unknown field '${name}'${nearest === undefined ? '' : `; did you mean '${nearest}'?`}`
    }
    case 'required':
      return `is missing required field '${String(e.params.missingProperty)}'`
    case 'enum':
      return `must be one of: ${(e.params.allowedValues as unknown[]).join(', ')}`
    case 'const':
      return `must be ${JSON.stringify(e.params.allowedValue)}`
    case 'not':
      return NOT_MESSAGES.find(([path]) => e.schemaPath.startsWith(path))?.[1] ?? 'is not allowed here'
    default:
      return e.message ?? 'is invalid'
  }
}

/**
 * The allowed name closest to `name` by edit distance (a swap of two neighbours counts one),
 * when it is close enough to be a slip: at most 2 edits, and fewer than a third of the name.
 */
export function nearestName (name: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Math.min(2, Math.floor(name.length / 3)) + 1
  for (const candidate of allowed) {
    const d = editDistance(name, candidate)
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return best
}

/** Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps. */
function editDistance (a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)])
  for (let j = 1; j <= b.length; j++) d[0][j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1)
    }
  }
  return d[a.length][b.length]
}

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

const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true })
const validateFile = ajv.compile<PolicyFileSpec>(policySchema)

/** Parses and schema-checks one policy file. */
export function parsePolicyFile (file: string, text: string): ParsedFile {
  const lines = new WeakMap<object, number>()
  const lineOf = (node: unknown): number | undefined =>
    node !== null && typeof node === 'object' ? lines.get(node) : undefined
  const openLines: number[] = []
  let doc: unknown
  try {
    doc = yaml.load(text, {
      filename: file,
      schema: yaml.CORE_SCHEMA,
      listener (event, state) {
        if (event === 'open') {
          openLines.push(state.line + 1)
        } else {
          const line = openLines.pop()
          const result: unknown = state.result
          if (line !== undefined && result !== null && typeof result === 'object') lines.set(result, line)
        }
      }
    })
  } catch (err) {
    const e = err as yaml.YAMLException
    return { file, lineOf, problems: [{ file, line: e.mark?.line === undefined ? undefined : e.mark.line + 1, message: `YAML syntax: ${e.reason ?? e.message}` }] }
  }
  if (!validateFile(doc)) {
    const problems = (validateFile.errors ?? []).filter(relevant).map((e) => locate(file, doc, e, lineOf))
    return { file, lineOf, problems }
  }
  return { file, spec: doc, lineOf, problems: [] }
}

/** An `if` error only repeats what its `then` error already says. */
function relevant (e: ErrorObject): boolean {
  return e.keyword !== 'if'
}

function locate (file: string, doc: unknown, e: ErrorObject, lineOf: (n: unknown) => number | undefined): PolicyProblem {
  const path = e.instancePath.split('/').slice(1).map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'))
  let node: unknown = doc
  let line = lineOf(doc)
  let rule: string | undefined
  for (let i = 0; i < path.length && node !== null && typeof node === 'object'; i++) {
    node = (node as Record<string, unknown>)[path[i]]
    line = lineOf(node) ?? line
    if (i === 1 && path[0] === 'rules' && node !== null && typeof node === 'object') {
      const id = (node as Record<string, unknown>).id
      if (typeof id === 'string') rule = id
    }
  }
  return { file, line, rule, message: `${describePath(path)} ${describeError(e)}` }
}

function describePath (path: string[]): string {
  if (path.length === 0) return 'document'
  return path.map((s, i) => (/^\d+$/.test(s) ? `[${s}]` : i === 0 ? s : `.${s}`)).join('')
}

/** The rule schema's `allOf` conditions, by position, in words (ajv names them relative to the rule). */
const NOT_MESSAGES: ReadonlyArray<readonly [string, string]> = [
  ['#/allOf/0/', 'must not carry approval settings (only a rule that can require approval can)'],
  ['#/allOf/2/', 'must not carry constraints (deny and throttle rules cannot be constrained)'],
  ['#/allOf/3/', 'must not carry rate_limit or retry_after_sec (only throttle rules can)'],
  ['#/allOf/4/', 'must not carry retry_after_sec with a rate_limit (the window says how long to wait)'],
  ['#/allOf/5/', 'must not require evidence (a deny rule denies anyway)'],
  ['#/allOf/6/', 'must not carry on_missing_evidence without require_evidence'],
  ['#/allOf/7/', 'must not require evidence with a rate_limit (within its limit the rule does not fire; put the evidence on another rule)']
]

function describeError (e: ErrorObject): string {
  switch (e.keyword) {
    case 'additionalProperties':
      return `has unknown field '${String(e.params.additionalProperty)}'`
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

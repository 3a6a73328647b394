/**
 * `arbiter policy lint PATH` and `arbiter policy test PATH [SUITE…] [--format junit|json] [--out FILE]`;
 * the signing commands are in policy-sign.ts.
 */
import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { compilePolicy, formatProblem, lintPolicy, type CompiledPolicy } from '../policy/index.js'
import { parseSuite, ruleCoverage, runSuite, type CaseResult, type RuleCoverage } from '../policy/test-suite.js'
import { readPolicySources } from '../live-policy/sources.js'
import type { Output } from './output.js'
import { policySignCommand, SIGN_COMMANDS, SIGN_USAGE } from './policy-sign.js'

export const POLICY_USAGE = `usage:
  arbiter policy lint PATH           check a policy file or directory; exit 1 with file:line errors
                                     (warnings about traps are printed and do not fail it)
  arbiter policy test PATH [SUITE…] [--format junit|json] [--out FILE]
                                     run *.test.yaml suites against the policy at PATH; print
                                     which rules no case reaches; --format writes a report for CI
                                     to stdout (the usual lines go to stderr) or to --out FILE
${SIGN_USAGE}`

export interface ReportOptions {
  format: 'junit' | 'json'
  /** Without it the report is stdout's only content. */
  out?: string
}

/** `args` follow `arbiter policy`; the exit code: 0 passed, 1 failed, 2 misused. */
export async function policyCommand (args: string[], io: Output): Promise<number> {
  // Before the parse below, which would refuse their own options.
  if (SIGN_COMMANDS.includes(args[0])) return await policySignCommand(args, io)
  let parsed
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: { format: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } } })
  } catch (err) {
    io.err(`policy: ${(err as Error).message}`)
    io.err(POLICY_USAGE)
    return 2
  }
  const { values: { format, out, help }, positionals: [sub, target, ...suites] } = parsed
  if (help === true) {
    io.out(POLICY_USAGE)
    return 0
  }
  if (sub === 'lint' && target !== undefined && suites.length === 0 && format === undefined && out === undefined) return await lintCommand(target, io)
  if (sub === 'test' && target !== undefined && (format === 'junit' || format === 'json')) return await testCommand(target, io, suites.length > 0 ? suites : undefined, { format, out })
  if (sub === 'test' && target !== undefined && format === undefined && out === undefined) return await testCommand(target, io, suites.length > 0 ? suites : undefined)
  io.err(POLICY_USAGE)
  return 2
}

async function compileAt (policyPath: string, io: Output): Promise<CompiledPolicy | undefined> {
  const result = compilePolicy(await readPolicySources(policyPath))
  if (result.ok) return result.policy
  for (const p of result.problems) io.err(formatProblem(p))
  io.err(`${result.problems.length} problem(s); the policy does not load`)
  return undefined
}

/**
 * Exit code 0 when the policy loads (warnings about rules easy to misread are printed, and do
 * not fail it), 1 with every problem printed as file:line otherwise.
 */
export async function lintCommand (policyPath: string, io: Output): Promise<number> {
  const policy = await compileAt(policyPath, io)
  if (policy === undefined) return 1
  const warnings = lintPolicy(policy)
  for (const w of warnings) io.err(`warning: ${w.file}: rule ${w.rule}: ${w.message}`)
  io.out(`ok: ${policy.rules.length} rule(s) in ${policy.sources.length} file(s), snapshot ${policy.snapshotId}${warnings.length === 0 ? '' : `, ${warnings.length} warning(s)`}`)
  return 0
}

interface SuiteRun {
  file: string
  /** The suite could not be read or parsed. */
  error?: string
  results: CaseResult[]
}

/** Runs every `*.test.yaml` beside the policy (or the suite files given) against it. */
export async function testCommand (policyPath: string, io: Output, suiteFiles?: string[], report?: ReportOptions): Promise<number> {
  // stdout carries the report alone when it goes there.
  const human: Output = report !== undefined && report.out === undefined ? { out: io.err, err: io.err } : io
  const policy = await compileAt(policyPath, human)
  if (policy === undefined) return 1
  const files = suiteFiles ?? await findSuites(policyPath)
  if (files.length === 0) {
    human.err(`no *.test.yaml suites found for ${policyPath}`)
    return 1
  }
  const runs: SuiteRun[] = []
  for (const file of files) {
    const name = path.basename(file)
    try {
      runs.push({ file: name, results: runSuite(policy, name, parseSuite(file, await readFile(file, 'utf8'))) })
    } catch (err) {
      human.err((err as Error).message)
      runs.push({ file: name, error: (err as Error).message, results: [] })
    }
  }
  for (const r of runs.flatMap((run) => run.results)) {
    human.out(`${r.failures.length === 0 ? 'ok  ' : 'FAIL'} ${r.file}: ${r.name}`)
    for (const f of r.failures) human.out(`       ${f}`)
  }
  const coverage = ruleCoverage(policy, runs.flatMap((run) => run.results))
  const unreached = coverage.filter((c) => c.cases === 0)
  human.out(`coverage: ${coverage.length - unreached.length} of ${coverage.length} rule(s) decide a case${unreached.length === 0 ? '' : '; no case reaches:'}`)
  for (const c of unreached) human.out(`       ${c.rule} (${c.file})`)
  const { passed, failed } = tally(runs)
  human.out(`policy cases: ${passed} passed, ${failed} failed`)
  if (report !== undefined) {
    const text = report.format === 'junit' ? junitReport(runs) : jsonReport(policy, runs, coverage)
    if (report.out === undefined) io.out(text)
    else await writeFile(report.out, text + '\n')
  }
  return failed === 0 ? 0 : 1
}

function tally (runs: readonly SuiteRun[]): { passed: number, failed: number } {
  const results = runs.flatMap((run) => run.results)
  const passed = results.filter((r) => r.failures.length === 0).length
  return { passed, failed: results.length - passed + runs.filter((r) => r.error !== undefined).length }
}

/** The same content as the JUnit report, and the coverage. */
function jsonReport (policy: CompiledPolicy, runs: readonly SuiteRun[], coverage: readonly RuleCoverage[]): string {
  return JSON.stringify({
    snapshot: policy.snapshotId,
    ...tally(runs),
    suites: runs.map((run) => ({
      file: run.file,
      ...(run.error === undefined ? {} : { error: run.error }),
      cases: run.results.map((r) => ({ name: r.name, passed: r.failures.length === 0, rule_id: r.rule_id, failures: r.failures }))
    })),
    coverage
  }, null, 2)
}

/** JUnit XML as CI systems read it: one testsuite per suite file, one testcase per case. */
function junitReport (runs: readonly SuiteRun[]): string {
  const { failed } = tally(runs)
  const tests = runs.reduce((n, run) => n + Math.max(run.results.length, run.error === undefined ? 0 : 1), 0)
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>', `<testsuites name="arbiter policy test" tests="${tests}" failures="${failed}">`]
  for (const run of runs) {
    const failures = run.results.filter((r) => r.failures.length > 0).length
    const errors = run.error === undefined ? 0 : 1
    lines.push(`  <testsuite name="${xml(run.file)}" tests="${run.results.length + errors}" failures="${failures}" errors="${errors}">`)
    if (run.error !== undefined) lines.push(`    <testcase classname="${xml(run.file)}" name="(suite)"><error message="${xml(run.error)}"/></testcase>`)
    for (const r of run.results) {
      lines.push(`    <testcase classname="${xml(run.file)}" name="${xml(r.name)}">`)
      if (r.failures.length > 0) lines.push(`      <failure message="${xml(r.failures[0])}">${xml(r.failures.join('\n'))}</failure>`)
      lines.push(`      <system-out>decided by ${r.rule_id === null ? 'the default' : `rule ${xml(r.rule_id)}`}</system-out>`, '    </testcase>')
    }
    lines.push('  </testsuite>')
  }
  lines.push('</testsuites>')
  return lines.join('\n')
}

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' }

/** Text for an attribute or element: escaped, and without the characters XML 1.0 cannot hold. */
function xml (text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD')
    .replace(/[&<>"']/g, (c) => XML_ESCAPES[c])
}

async function findSuites (policyPath: string): Promise<string[]> {
  const dir = (await stat(policyPath)).isDirectory() ? policyPath : path.dirname(policyPath)
  return (await readdir(dir)).filter((f) => /\.test\.ya?ml$/.test(f)).sort().map((f) => path.join(dir, f))
}

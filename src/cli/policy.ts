/** `arbiter policy lint PATH` and `arbiter policy test PATH`. */
import { readdir, readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { compilePolicy, formatProblem, lintPolicy, type CompiledPolicy } from '../policy/index.js'
import { parseSuite, runSuite } from '../policy/test-suite.js'
import { readPolicySources } from '../live-policy/sources.js'

export interface Output {
  out: (line: string) => void
  err: (line: string) => void
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

/** Runs every `*.test.yaml` beside the policy (or the suite files given) against it. */
export async function testCommand (policyPath: string, io: Output, suiteFiles?: string[]): Promise<number> {
  const policy = await compileAt(policyPath, io)
  if (policy === undefined) return 1
  const files = suiteFiles ?? await findSuites(policyPath)
  if (files.length === 0) {
    io.err(`no *.test.yaml suites found for ${policyPath}`)
    return 1
  }
  let passed = 0
  let failed = 0
  for (const file of files) {
    let results
    try {
      results = runSuite(policy, path.basename(file), parseSuite(file, await readFile(file, 'utf8')))
    } catch (err) {
      io.err((err as Error).message)
      failed++
      continue
    }
    for (const r of results) {
      if (r.failures.length === 0) {
        passed++
        io.out(`ok   ${r.file}: ${r.name}`)
      } else {
        failed++
        io.out(`FAIL ${r.file}: ${r.name}`)
        for (const f of r.failures) io.out(`       ${f}`)
      }
    }
  }
  io.out(`policy cases: ${passed} passed, ${failed} failed`)
  return failed === 0 ? 0 : 1
}

async function findSuites (policyPath: string): Promise<string[]> {
  const dir = (await stat(policyPath)).isDirectory() ? policyPath : path.dirname(policyPath)
  return (await readdir(dir)).filter((f) => /\.test\.ya?ml$/.test(f)).sort().map((f) => path.join(dir, f))
}

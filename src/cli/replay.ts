/**
 * `arbiter policy replay --candidate PATH`: what the candidate policy would have decided for the
 * jobs recorded in a window, against what was decided (src/replay/). Read-only; the database is
 * the one `arbiter serve` uses (DATABASE_URL, or the embedded one in DATA_DIR while no server
 * holds it: POST /policies/replay asks a running server instead).
 */
import { writeFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { loadConfig } from '../config.js'
import { compilePolicy, formatProblem } from '../policy/index.js'
import { readPolicySources } from '../live-policy/sources.js'
import { replayHtml, replayText } from '../replay/format.js'
import { replayDecisions } from '../replay/replayer.js'
import { parseFailOn, type FailOn } from '../replay/tally.js'
import { openInstallDatabase, resolveTime, UsageError } from './audit.js'
import type { Output } from './output.js'

export const REPLAY_USAGE = `  arbiter policy replay --candidate PATH [--since 7d|ISO] [--until 12h|ISO] [--tenant T]
                        [--format text|json|html] [--out FILE] [--fail-on SPEC] [--examples N]
                                     judge the recorded decisions of a window again under the
                                     candidate policy and report what would change; exit 3 when
                                     a change matches --fail-on (LIVE>CANDIDATE with decisions or
                                     *, any-loosening, any-tightening, any; comma-separated)`

const FORMATS = ['text', 'json', 'html'] as const

/** `args` follow `arbiter policy replay`; 0 reported, 1 the candidate does not load, 2 misused, 3 a forbidden change. */
export async function replayCommand (args: string[], io: Output, env: Record<string, string | undefined>): Promise<number> {
  let options
  try {
    options = replayOptions(args)
  } catch (err) {
    io.err(`policy replay: ${(err as Error).message}`)
    io.err(`usage:\n${REPLAY_USAGE}`)
    return 2
  }
  const compiled = compilePolicy(await readPolicySources(options.candidate))
  if (!compiled.ok) {
    for (const p of compiled.problems) io.err(formatProblem(p))
    io.err(`${compiled.problems.length} problem(s); the candidate policy does not load`)
    return 1
  }
  let db
  try {
    db = await openInstallDatabase(loadConfig(env))
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    io.err(`policy replay: ${err.message}`)
    return 2
  }
  try {
    const result = await replayDecisions(db, { candidate: compiled.policy, since: options.since, until: options.until, tenantId: options.tenant, examplesPerCell: options.examples, failOn: options.failOn })
    const text = options.format === 'json' ? JSON.stringify(result, null, 2) : options.format === 'html' ? replayHtml(result) : replayText(result)
    if (options.out === undefined) io.out(text)
    else await writeFile(options.out, text + '\n')
    // The text on stdout says all this already; a report elsewhere leaves CI's log a summary.
    if (options.out !== undefined || options.format !== 'text') {
      io.err(`replayed ${result.judged} decision(s); ${result.changed} would change`)
      for (const f of result.failures) io.err(`policy replay: ${f.count} change(s) match --fail-on ${f.fail_on}`)
    }
    return result.failures.length > 0 ? 3 : 0
  } finally {
    await db.close()
  }
}

interface ReplayCliOptions {
  candidate: string
  since?: string
  until?: string
  tenant?: string
  format: typeof FORMATS[number]
  out?: string
  failOn: FailOn[]
  examples: number
}

function replayOptions (args: string[]): ReplayCliOptions {
  const { values } = parseArgs({
    args,
    options: {
      candidate: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      tenant: { type: 'string' },
      format: { type: 'string', default: 'text' },
      out: { type: 'string' },
      'fail-on': { type: 'string' },
      examples: { type: 'string', default: '5' }
    }
  })
  if (values.candidate === undefined) throw new Error('--candidate PATH is required')
  const format = values.format as typeof FORMATS[number]
  if (!FORMATS.includes(format)) throw new Error(`--format must be one of ${FORMATS.join(', ')}`)
  const examples = Number(values.examples)
  if (!Number.isInteger(examples) || examples < 0 || examples > 100) throw new Error('--examples must be a whole number from 0 to 100')
  const now = new Date()
  const since = values.since === undefined ? undefined : resolveTime(values.since, now)
  const until = values.until === undefined ? undefined : resolveTime(values.until, now)
  if (since !== undefined && until !== undefined && since >= until) throw new Error('--since must be before --until')
  return { candidate: values.candidate, since, until, tenant: values.tenant, format, out: values.out, failOn: parseFailOn(values['fail-on'] ?? ''), examples }
}

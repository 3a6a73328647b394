/**
 * Whether a rule's (or a derivation's) match fields hold for a job, and why. Pure.
 */
import type { CompiledMatch } from './compile.js'
import { globMatches, wildcardMatches, type Glob } from './glob.js'
import type { AnalyzedCommand, CommandAnalysis } from './shell/analyze.js'
import type { CommandClass, Job } from './types.js'

/** A job as rules see it: its risk tags are the declared ones plus the derived ones. */
export interface Subject {
  job: Job
  tags: readonly string[]
  command?: CommandAnalysis
}

/** True when every match field given holds; `why` (when given) collects the reasons. */
export function matchHolds (m: CompiledMatch, subject: Subject, why: string[] | undefined): boolean {
  const { job } = subject
  if (m.topics !== undefined) {
    const glob = firstMatch(m.topics, job.topic)
    if (glob === undefined) return false
    why?.push(`topic '${job.topic}' matches '${glob.source}'`)
  }
  if (m.riskTags !== undefined && !riskTagsHold(m.riskTags, subject.tags, why)) return false
  if (m.tenants !== undefined) {
    const glob = firstMatch(m.tenants, job.tenant_id)
    if (glob === undefined) return false
    why?.push(`tenant '${job.tenant_id}' matches '${glob.source}'`)
  }
  if (m.principals !== undefined) {
    // A rule about principals never matches a job that names none.
    const glob = job.principal_id === undefined ? undefined : firstMatch(m.principals, job.principal_id)
    if (glob === undefined) return false
    why?.push(`principal '${job.principal_id ?? ''}' matches '${glob.source}'`)
  }
  if (m.labels !== undefined) {
    for (const [key, allowed] of m.labels) {
      const value = job.labels?.[key]
      if (value === undefined || !allowed.has(value)) return false
      why?.push(`label ${key}='${value}' is allowed`)
    }
  }
  if (m.command !== undefined && !commandHolds(m, m.command, subject.command, why)) return false
  if (m.commandClasses !== undefined && !commandClassesHold(m, m.commandClasses, subject.command, why)) return false
  if (why !== undefined && why.length === 0) why.push('the rule matches every job')
  return true
}

function riskTagsHold (wanted: ReadonlySet<string> | null, tags: readonly string[], why: string[] | undefined): boolean {
  if (wanted === null) {
    if (tags.length > 0) return false
    why?.push('job carries no risk tags, as required')
    return true
  }
  const hit = tags.find((t) => wanted.has(t))
  if (hit === undefined) return false
  why?.push(`risk tag '${hit}' is one of [${[...wanted].join(', ')}]`)
  return true
}

const commandText = (c: AnalyzedCommand): string => c.argv.join(' ')
const patternOf = (patterns: readonly string[], c: AnalyzedCommand): string | undefined =>
  patterns.find((p) => wildcardMatches(p, commandText(c)))
const classOf = (classes: ReadonlySet<CommandClass>, c: AnalyzedCommand): CommandClass | undefined =>
  c.classes.find((k) => classes.has(k))
const outside = (classes: ReadonlySet<CommandClass>, c: AnalyzedCommand): CommandClass | undefined =>
  c.classes.find((k) => !classes.has(k))

/**
 * Patterns are matched against each simple command, never against the raw string: for an
 * allow-style rule every simple command must match one, for any other rule one is enough.
 */
function commandHolds (m: CompiledMatch, patterns: readonly string[], command: CommandAnalysis | undefined, why: string[] | undefined): boolean {
  if (command === undefined || !command.parsed || command.commands.length === 0) return false
  if (m.commandScope === 'all') {
    if (command.commands.some((c) => patternOf(patterns, c) === undefined)) return false
    why?.push(`every simple command matches one of [${patterns.join(', ')}]`)
    return true
  }
  const hit = command.commands.find((c) => patternOf(patterns, c) !== undefined)
  if (hit === undefined) return false
  why?.push(`command '${commandText(hit)}' matches '${patternOf(patterns, hit) ?? ''}'`)
  return true
}

/**
 * For an allow-style rule every simple command must have only listed classes (`ls && rm -rf x`
 * is not read_only); for any other rule one listed class in one simple command is enough.
 * A rule about commands never matches a job that carries none, or one that cannot be parsed.
 */
function commandClassesHold (m: CompiledMatch, classes: ReadonlySet<CommandClass>, command: CommandAnalysis | undefined, why: string[] | undefined): boolean {
  if (command === undefined || !command.parsed || command.commands.length === 0) return false
  const listed = `[${[...classes].join(', ')}]`
  if (m.commandScope === 'all') {
    if (command.commands.some((c) => outside(classes, c) !== undefined)) return false
    why?.push(`every simple command's classes are among ${listed}`)
    return true
  }
  const hit = command.commands.find((c) => classOf(classes, c) !== undefined)
  if (hit === undefined) return false
  why?.push(`command class '${classOf(classes, hit) ?? ''}' of '${hit.text}' is one of ${listed}`)
  return true
}

/**
 * The simple command a rule's command match turned on, and the class, for the explanation: for
 * an any-of rule the first that matched; for an all-of rule that matched, the first of the most
 * severe; undefined when the rule says nothing of commands.
 */
export function decidingCommand (m: CompiledMatch, command: CommandAnalysis): { index: number, class?: CommandClass } | undefined {
  if (!command.parsed || (m.commandClasses === undefined && m.command === undefined)) return undefined
  const { commands } = command
  if (m.commandScope === 'all') {
    let best = -1
    for (let i = 0; i < commands.length; i++) if (best === -1 || severity(commands[i]) > severity(commands[best])) best = i
    return best === -1 ? undefined : { index: best, ...(m.commandClasses === undefined ? {} : { class: mostSevere(commands[best]) }) }
  }
  const classes = m.commandClasses
  const index = commands.findIndex((c) => (classes === undefined || classOf(classes, c) !== undefined) &&
    (m.command === undefined || patternOf(m.command, c) !== undefined))
  if (index === -1) return undefined
  const hit = classes === undefined ? undefined : classOf(classes, commands[index])
  return { index, ...(hit === undefined ? {} : { class: hit }) }
}

/** Classes from least to most severe, for picking the command that explains a decision. */
const SEVERITY: readonly CommandClass[] = ['read_only', 'network', 'write', 'unknown', 'privileged', 'destructive']
const mostSevere = (c: AnalyzedCommand): CommandClass =>
  c.classes.reduce<CommandClass>((a, k) => SEVERITY.indexOf(k) > SEVERITY.indexOf(a) ? k : a, 'read_only')
const severity = (c: AnalyzedCommand): number => SEVERITY.indexOf(mostSevere(c))

function firstMatch (globs: readonly Glob[], value: string): Glob | undefined {
  return globs.find((g) => globMatches(g, value))
}

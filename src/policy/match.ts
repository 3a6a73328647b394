/**
 * Whether a rule's (or a derivation's) match fields hold for a job, and why. Pure.
 */
import type { CompiledMatch } from './compile.js'
import { globMatches, wildcardMatches, type Glob } from './glob.js'
import type { CommandAnalysis } from './shell/analyze.js'
import type { Job } from './types.js'

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
  if (m.command !== undefined && !commandHolds(m.command, subject.command, why)) return false
  if (m.commandClasses !== undefined) {
    // A rule about commands never matches a job that carries none.
    const hit = subject.command?.classes.find((c) => (m.commandClasses as ReadonlySet<string>).has(c))
    if (hit === undefined) return false
    why?.push(`command class '${hit}' is one of [${[...m.commandClasses].join(', ')}]`)
  }
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

/** Patterns are matched against each simple command, never against the raw string. */
function commandHolds (patterns: readonly string[], command: CommandAnalysis | undefined, why: string[] | undefined): boolean {
  if (command === undefined || !command.parsed) return false
  for (const c of command.commands) {
    const text = c.argv.join(' ')
    const pattern = patterns.find((p) => wildcardMatches(p, text))
    if (pattern !== undefined) {
      why?.push(`command '${text}' matches '${pattern}'`)
      return true
    }
  }
  return false
}

function firstMatch (globs: readonly Glob[], value: string): Glob | undefined {
  return globs.find((g) => globMatches(g, value))
}

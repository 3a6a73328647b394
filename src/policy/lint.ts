/**
 * Warnings about rules that load but whose meaning is easy to misread: the policy works as
 * written, just not, perhaps, as meant. Pure; `arbiter policy lint` prints them.
 */
import type { CompiledPolicy } from './compile.js'
import { shadowedBy, throttleFallsThrough } from './lint-traps.js'

export interface PolicyWarning {
  file: string
  rule: string
  message: string
}

const RISKY = ['destructive', 'privileged', 'unknown'] as const

/** Every warning for `policy`, in rule order. */
export function lintPolicy (policy: CompiledPolicy): PolicyWarning[] {
  const warnings: PolicyWarning[] = []
  for (const rule of policy.rules) {
    const warn = (message: string): void => { warnings.push({ file: rule.file, rule: rule.id, message }) }
    const classes = rule.commandClasses
    const allows = rule.commandScope === 'all'
    if (classes !== undefined && allows) {
      const risky = RISKY.filter((c) => classes.has(c))
      if (risky.length > 0) warn(`allows command lines whose simple commands are [${risky.join(', ')}] without review`)
    }
    if (classes !== undefined && !allows && classes.has('read_only')) {
      warn('matches every command line with one read_only part (nearly all of them): for a rule that is not an allow, command_class is any-of')
    }
    if (allows && (classes !== undefined || rule.command !== undefined) && rule.topics === undefined && rule.tenants === undefined &&
      rule.principals === undefined && rule.labels === undefined && rule.riskTags === undefined) {
      warn('allows these commands on every topic, for every tenant and principal')
    }
    for (const pattern of allows ? rule.command ?? [] : []) {
      if (pattern.endsWith('*')) warn(`allow pattern '${pattern}' also matches options that write or run programs (git log --output=…); command_class: [read_only] checks them`)
    }
    const fallsThrough = throttleFallsThrough(policy, rule)
    if (fallsThrough !== undefined) warn(fallsThrough)
    const earlier = shadowedBy(policy, rule)
    if (earlier !== undefined) {
      const where = earlier.file === rule.file ? '' : ` (${earlier.file})`
      warn(`can never decide: earlier rule ${earlier.id}${where} has the same match and always answers ${earlier.decision}, which ${rule.decision} does not outrank`)
    }
  }
  return warnings
}

/**
 * Warnings about how rules combine (lint.ts has the ones about a rule alone): a rate-limited
 * throttle whose jobs, under the limit, fall through to the default; a rule that an earlier
 * rule with the same match always outranks. Pure.
 */
import type { CompiledPolicy, CompiledRule } from './compile.js'
import { globMatches, type Glob } from './glob.js'
import { RESTRICTIVENESS, type Decision } from './types.js'

/**
 * Under its limit a rate-limited throttle does not match at all: the job gets what the other
 * matching rules decide, and the default when none does. Without an allow for the same jobs,
 * the jobs it means to let through are denied (or sent for approval) by the default.
 */
export function throttleFallsThrough (policy: CompiledPolicy, rule: CompiledRule): string | undefined {
  if (rule.rateLimit === undefined || policy.defaults.decision === 'ALLOW') return undefined
  if (policy.rules.some((other) => other.commandScope === 'all' && covers(other, rule))) return undefined
  const fallback = policy.defaults.decision.toLowerCase()
  return `under its limit (${rule.rateLimit.max} per ${rule.rateLimit.window_sec} s) this throttle does not match, ` +
    `so a job falls through to the other rules that match it, and to the default (${fallback}) when none does; ` +
    `no allow rule matches every job it throttles, so jobs under the limit can get ${fallback}. ` +
    'Add an allow (or allow_with_constraints) rule with the same match'
}

/**
 * A later rule with the same match as an earlier one that always fires, and whose decision it
 * cannot outrank (most restrictive wins; among equals the first), never decides. Rules that still
 * add something to the earlier one's answer (constraints, approval settings, a retry delay) are
 * left alone: they never decide, but they count.
 */
export function shadowedBy (policy: CompiledPolicy, rule: CompiledRule): CompiledRule | undefined {
  const key = matchKey(rule)
  return policy.rules.slice(0, rule.index).find((earlier) =>
    earlier.rateLimit === undefined &&
    highest(rule) <= RESTRICTIVENESS[earlier.decision] &&
    !addsTo(earlier, rule) &&
    matchKey(earlier) === key)
}

/** The most restrictive answer the rule can give (missing evidence can raise it). */
function highest (rule: CompiledRule): number {
  const missing = rule.requireEvidence === undefined ? 0 : RESTRICTIVENESS[rule.onMissingEvidence]
  return Math.max(RESTRICTIVENESS[rule.decision], missing)
}

function addsTo (earlier: CompiledRule, rule: CompiledRule): boolean {
  if (earlier.decision === 'DENY') return false
  const canBe = (d: Decision): boolean => rule.decision === d || (rule.requireEvidence !== undefined && rule.onMissingEvidence === d)
  return rule.constraints !== undefined || canBe('REQUIRE_APPROVAL') || canBe('THROTTLE')
}

/**
 * The match as a canonical string. Allow-style rules read command fields all-of, others any-of;
 * an allow with the same fields matches a subset of the other's jobs, which is still shadowed.
 */
function matchKey (rule: CompiledRule): string {
  const sorted = (values: Iterable<string> | undefined): string[] | undefined => values === undefined ? undefined : [...values].sort()
  const sources = (globs: readonly Glob[] | undefined): string[] | undefined => sorted(globs?.map((g) => g.source))
  return JSON.stringify([
    sources(rule.topics),
    rule.riskTags === null ? null : sorted(rule.riskTags),
    sources(rule.tenants),
    sources(rule.principals),
    rule.labels === undefined ? undefined : [...rule.labels].map(([k, v]) => [k, sorted(v)]).sort(),
    sorted(rule.command),
    sorted(rule.commandClasses)
  ])
}

/**
 * Whether `allow` matches every job `rule` matches, field by field. Globs are compared by
 * reading the narrower one as a value. An allow reads command fields all-of, the throttle
 * any-of: an allow listing at least the throttle's patterns or classes is taken to cover it
 * (the command lines it leaves out hold other commands, which other rules judge).
 */
function covers (allow: CompiledRule, rule: CompiledRule): boolean {
  return globsCover(allow.topics, rule.topics) &&
    globsCover(allow.tenants, rule.tenants) &&
    globsCover(allow.principals, rule.principals) &&
    riskTagsCover(allow.riskTags, rule.riskTags) &&
    (allow.labels ?? []).every(([k, values]) => {
      const narrower = rule.labels?.find(([key]) => key === k)?.[1]
      return narrower !== undefined && [...narrower].every((v) => values.has(v))
    }) &&
    setCovers(allow.command, rule.command) &&
    setCovers(allow.commandClasses, rule.commandClasses)
}

function globsCover (wide: readonly Glob[] | undefined, narrow: readonly Glob[] | undefined): boolean {
  if (wide === undefined) return true
  if (narrow === undefined) return false
  return narrow.every((n) => wide.some((w) => globCovers(w, n)))
}

/** `*` in the narrower glob is matched as a character by the wider one's wildcards; `**` only by a prefix. */
function globCovers (wide: Glob, narrow: Glob): boolean {
  if (wide.source === narrow.source || wide.source === '**') return true
  if (narrow.source.includes('**')) return wide.source.endsWith('.**') && !wide.source.slice(0, -2).includes('*') && narrow.source.startsWith(wide.source.slice(0, -2))
  return globMatches(wide, narrow.source)
}

function riskTagsCover (wide: ReadonlySet<string> | null | undefined, narrow: ReadonlySet<string> | null | undefined): boolean {
  if (wide === undefined) return true
  if (narrow === undefined) return false
  if (wide === null || narrow === null) return wide === narrow
  return [...narrow].every((t) => wide.has(t))
}

function setCovers (wide: Iterable<string> | undefined, narrow: Iterable<string> | undefined): boolean {
  if (wide === undefined) return true
  if (narrow === undefined) return false
  const have = new Set(wide)
  return [...narrow].every((v) => have.has(v))
}

/**
 * Detectors for secrets and personal data in job output. The output is the caller's (an agent's
 * stdout), so every detector runs in time linear in it: a regex here starts at a literal prefix and
 * repeats a class either a bounded number of times or with nothing after it to backtrack for, and
 * whatever a regex could backtrack over (emails, card numbers, JWTs, assignments, URL authorities) is
 * scanned by hand.
 */
import { findGenericSecrets, findPasswordAssignments } from './assignments.js'
import { findCardNumbers } from './cards.js'
import { findConnectionStrings } from './connection-strings.js'
import { findEmails } from './emails.js'
import { findJwts } from './jwt.js'
import { findPatternMatches, type PatternDetector } from './pattern-detectors.js'
import { findPrivateKeys } from './private-keys.js'
import type { Detector, Span } from './text.js'
import {
  findAnthropicKeys, findAwsKeys, findAzureStorageKeys, findGithubTokens, findGitlabTokens, findGoogleApiKeys,
  findNpmTokens, findOpenAiKeys, findPypiTokens, findSlackTokens, findStripeKeys, findStripeTestKeys
} from './tokens.js'

export const FINDING_TYPES = [
  'private_key', 'aws_access_key', 'github_token', 'slack_token', 'stripe_key', 'stripe_test_key', 'openai_key', 'anthropic_key',
  'google_api_key', 'azure_storage_key', 'npm_token', 'pypi_token', 'gitlab_token', 'connection_string', 'jwt', 'generic_secret',
  'password_assignment', 'card_number', 'email'
] as const
export type FindingType = typeof FINDING_TYPES[number]
/**
 * Where a secret is, never what it is. `type` is a FindingType or a policy detector's id. Offsets
 * are UTF-16 indexes into the scanned text; line/column are 1-based.
 */
export interface Finding { type: string, start: number, end: number, line: number, column: number }

const DETECTORS: Readonly<Record<FindingType, Detector>> = {
  private_key: findPrivateKeys,
  aws_access_key: findAwsKeys,
  github_token: findGithubTokens,
  slack_token: findSlackTokens,
  stripe_key: findStripeKeys,
  stripe_test_key: findStripeTestKeys,
  openai_key: findOpenAiKeys,
  anthropic_key: findAnthropicKeys,
  google_api_key: findGoogleApiKeys,
  azure_storage_key: findAzureStorageKeys,
  npm_token: findNpmTokens,
  pypi_token: findPypiTokens,
  gitlab_token: findGitlabTokens,
  connection_string: findConnectionStrings,
  jwt: findJwts,
  generic_secret: findGenericSecrets,
  password_assignment: findPasswordAssignments,
  card_number: findCardNumbers,
  email: findEmails
}

type Found = Span & { type: string, rank: number }

/**
 * generic_secret is the fallback: a value another detector recognised (`token=<a JWT>`,
 * `GITHUB_TOKEN=ghp_…`) is that detector's finding alone. password_assignment names the same
 * assignment and does not count. One sweep: `found` is sorted by start, and generic values never overlap.
 */
function withoutClaimedGeneric (found: readonly Found[]): Found[] {
  const claims = found.filter((f) => f.type !== 'generic_secret' && f.type !== 'password_assignment')
  let next = 0
  let claimedUpTo = -1
  return found.filter((f) => {
    if (f.type !== 'generic_secret') return true
    for (; next < claims.length && claims[next].start < f.end; next++) claimedUpTo = Math.max(claimedUpTo, claims[next].end)
    return claimedUpTo <= f.start
  })
}

/**
 * Every finding in `text`, built-in and from the policy's `detectors`, sorted by start, then widest
 * first, then in FINDING_TYPES order and then in the order of `detectors`.
 */
export function detectFindings (text: string, detectors: readonly PatternDetector[] = []): Finding[] {
  const found: Found[] = []
  FINDING_TYPES.forEach((type, rank) => {
    for (const span of DETECTORS[type](text)) found.push({ type, rank, ...span })
  })
  detectors.forEach((detector, i) => {
    for (const span of findPatternMatches(text, detector)) found.push({ type: detector.id, rank: FINDING_TYPES.length + i, ...span })
  })
  found.sort((a, b) => a.start - b.start || b.end - a.end || a.rank - b.rank)
  // One sweep over the newlines: findings are sorted, so the line count only moves forward.
  let line = 1
  let lineStart = 0
  let nextNewline = text.indexOf('\n')
  return withoutClaimedGeneric(found).map(({ type, start, end }) => {
    while (nextNewline !== -1 && nextNewline < start) {
      line++
      lineStart = nextNewline + 1
      nextNewline = text.indexOf('\n', lineStart)
    }
    return { type, start, end, line, column: start - lineStart + 1 }
  })
}

/**
 * Detectors for secrets and personal data in job output. The output is the caller's (an agent's
 * stdout), so every detector runs in time linear in it: a regex here starts at a literal prefix and
 * repeats a class either a bounded number of times or with nothing after it to backtrack for, and
 * whatever a regex could backtrack over (emails, card numbers, JWTs, assignments) is scanned by hand.
 */
import { findPasswordAssignments } from './assignments.js'
import { findCardNumbers } from './cards.js'
import { findEmails } from './emails.js'
import { findJwts } from './jwt.js'
import { findPrivateKeys } from './private-keys.js'
import type { Detector, Span } from './text.js'
import { findAwsKeys, findGithubTokens, findSlackTokens } from './tokens.js'

export const FINDING_TYPES = ['private_key', 'aws_access_key', 'github_token', 'slack_token', 'jwt', 'password_assignment', 'card_number', 'email'] as const
export type FindingType = typeof FINDING_TYPES[number]
/** Where a secret is, never what it is. Offsets are UTF-16 indexes into the scanned text; line/column are 1-based. */
export interface Finding { type: FindingType, start: number, end: number, line: number, column: number }

const DETECTORS: Readonly<Record<FindingType, Detector>> = {
  private_key: findPrivateKeys,
  aws_access_key: findAwsKeys,
  github_token: findGithubTokens,
  slack_token: findSlackTokens,
  jwt: findJwts,
  password_assignment: findPasswordAssignments,
  card_number: findCardNumbers,
  email: findEmails
}

/** Every finding in `text`, sorted by start, then widest first, then in FINDING_TYPES order. */
export function detectFindings (text: string): Finding[] {
  const found: Array<Span & { type: FindingType, rank: number }> = []
  FINDING_TYPES.forEach((type, rank) => {
    for (const span of DETECTORS[type](text)) found.push({ type, rank, ...span })
  })
  found.sort((a, b) => a.start - b.start || b.end - a.end || a.rank - b.rank)
  // One sweep over the newlines: findings are sorted, so the line count only moves forward.
  let line = 1
  let lineStart = 0
  let nextNewline = text.indexOf('\n')
  return found.map(({ type, start, end }) => {
    while (nextNewline !== -1 && nextNewline < start) {
      line++
      lineStart = nextNewline + 1
      nextNewline = text.indexOf('\n', lineStart)
    }
    return { type, start, end, line, column: start - lineStart + 1 }
  })
}

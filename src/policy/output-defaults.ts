import type { FindingVerdicts } from '../output/scan.js'

/**
 * What a policy that says nothing of a finding type does with it. Credentials that grant access go to a human;
 * personal data and leaked-but-scoped values are masked.
 */
export const DEFAULT_FINDING_VERDICTS: FindingVerdicts = Object.freeze({
  private_key: 'quarantine',
  aws_access_key: 'quarantine',
  github_token: 'quarantine',
  slack_token: 'quarantine',
  jwt: 'redact',
  password_assignment: 'redact',
  card_number: 'redact',
  email: 'redact'
})

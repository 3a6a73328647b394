import type { FindingVerdicts } from '../output/scan.js'

/**
 * What a policy that says nothing of a finding type does with it. Credentials that grant access go to a human;
 * personal data and leaked-but-scoped values are masked. Stripe test-mode keys reach only test data; a JWT
 * expires; a password_assignment may be any value at all: these are masked too.
 */
export const DEFAULT_FINDING_VERDICTS: FindingVerdicts = Object.freeze({
  private_key: 'quarantine',
  aws_access_key: 'quarantine',
  github_token: 'quarantine',
  slack_token: 'quarantine',
  stripe_key: 'quarantine',
  stripe_test_key: 'redact',
  openai_key: 'quarantine',
  anthropic_key: 'quarantine',
  google_api_key: 'quarantine',
  azure_storage_key: 'quarantine',
  npm_token: 'quarantine',
  pypi_token: 'quarantine',
  gitlab_token: 'quarantine',
  connection_string: 'quarantine',
  jwt: 'redact',
  generic_secret: 'quarantine',
  password_assignment: 'redact',
  card_number: 'redact',
  email: 'redact'
})

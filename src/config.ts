/**
 * Environment → frozen, typed Config. Nothing else in Arbiter reads process.env.
 */
import { Ajv } from 'ajv'
import { isIP } from 'node:net'
import path from 'node:path'
import { notifyConfig, type NotifyConfig } from './notify/settings.js'
import { parseDatabaseUrl, type DatabaseUrlError } from './store/hosts.js'
import type { PartitionUnit } from './store/partitions.js'

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = typeof LOG_LEVELS[number]

export interface Config {
  readonly port: number
  readonly host: string
  readonly databaseUrl: string | undefined
  readonly dataDir: string
  readonly policyPath: string
  /** A candidate policy every check also evaluates, deciding nothing (shadow mode). */
  readonly shadowPolicyPath: string | undefined
  /** Whether the shadow's disagreements are also written to the log (`policy.shadow` records). */
  readonly shadowRecord: boolean
  readonly logLevel: LogLevel
  readonly checkBudgetMs: number
  readonly bodyLimitBytes: number
  readonly hmacKeyFile: string | undefined
  readonly watchPolicies: boolean
  /** Files of PEM Ed25519 public keys; when any is named, only a policy one of them signed loads. */
  readonly policyTrustedKeys: readonly string[]
  readonly checkpointKeyFile: string | undefined
  readonly checkpointEvery: number
  readonly checkpointIntervalSec: number
  /** An append-only file every signed checkpoint is also written to, outside the database. */
  readonly checkpointWitnessFile: string | undefined
  /** A URL every signed checkpoint is also POSTed to (retried; failures counted and logged). */
  readonly checkpointWitnessUrl: string | undefined
  /** How much time each partition of the audit log spans (migrations/0013). */
  readonly auditPartition: PartitionUnit
  /** `arbiter audit archive` without --before archives what is older than this many whole months. */
  readonly auditRetentionMonths: number | undefined
  /** False only for local experiments, and only on a loopback HOST. */
  readonly authEnabled: boolean
  /** A token the first admin key is created with; never logged. */
  readonly adminToken: string | undefined
  readonly authFailureLimit: number
  readonly authFailureWindowSec: number
  /** A second, unauthenticated listener serving only GET /metrics, when set. */
  readonly metricsPort: number | undefined
  readonly metricsHost: string
  /** Proxies whose X-Forwarded-For names the client (addresses, CIDRs, or `loopback`); none by default. */
  readonly trustProxy: readonly string[]
  /** Pending approvals a tenant may have at once; past it, a job that needs one is denied. */
  readonly maxPendingApprovals: number
  /** How often live approvals whose clock ran out are ended (checks and votes end them too). */
  readonly approvalSweepIntervalSec: number
  /** Webhooks told of approvals, violations and grants (src/notify/), and how they are retried. */
  readonly notify: NotifyConfig
}

/** The variables Arbiter reads, their defaults and limits; README documents the same list. */
const ENV_SCHEMA = {
  type: 'object',
  properties: {
    PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 8080 },
    HOST: { type: 'string', minLength: 1, default: '127.0.0.1' },
    DATABASE_URL: { type: 'string', pattern: '^postgres(ql)?://' },
    DATA_DIR: { type: 'string', minLength: 1, default: './data' },
    POLICY_PATH: { type: 'string', minLength: 1, default: './policies' },
    POLICY_SHADOW_PATH: { type: 'string', minLength: 1 },
    POLICY_SHADOW_RECORD: { enum: ['off', 'disagreements'], default: 'off' },
    LOG_LEVEL: { enum: LOG_LEVELS, default: 'info' },
    CHECK_BUDGET_MS: { type: 'integer', minimum: 10, maximum: 30000, default: 1500 },
    BODY_LIMIT_BYTES: { type: 'integer', minimum: 1024, maximum: 10485760, default: 65536 },
    ARBITER_HMAC_KEY_FILE: { type: 'string', minLength: 1 },
    POLICY_WATCH: { enum: ['true', 'false'], default: 'true' },
    POLICY_TRUSTED_KEYS: { type: 'string', minLength: 1 },
    ARBITER_CHECKPOINT_KEY_FILE: { type: 'string', minLength: 1 },
    CHECKPOINT_EVERY: { type: 'integer', minimum: 1, maximum: 1000000, default: 1000 },
    AUDIT_PARTITION: { enum: ['month', 'day'], default: 'month' },
    AUDIT_RETENTION_MONTHS: { type: 'integer', minimum: 1, maximum: 1200 },
    CHECKPOINT_INTERVAL_SEC: { type: 'integer', minimum: 1, maximum: 86400, default: 60 },
    CHECKPOINT_WITNESS_FILE: { type: 'string', minLength: 1 },
    CHECKPOINT_WITNESS_URL: { type: 'string', pattern: '^https?://[^\\s]+$' },
    ARBITER_AUTH: { enum: ['enabled', 'disabled'], default: 'enabled' },
    ARBITER_ADMIN_TOKEN: { type: 'string', minLength: 43, maxLength: 512, pattern: '^[\\x21-\\x7e]+$' },
    AUTH_FAILURE_LIMIT: { type: 'integer', minimum: 1, maximum: 100000, default: 20 },
    AUTH_FAILURE_WINDOW_SEC: { type: 'integer', minimum: 1, maximum: 86400, default: 60 },
    METRICS_PORT: { type: 'integer', minimum: 0, maximum: 65535 },
    METRICS_HOST: { type: 'string', minLength: 1, default: '127.0.0.1' },
    TRUST_PROXY: { type: 'string', pattern: '^[0-9A-Za-z:./]+(,[0-9A-Za-z:./]+)*$' },
    MAX_PENDING_APPROVALS: { type: 'integer', minimum: 1, maximum: 1000000, default: 1000 },
    APPROVAL_SWEEP_INTERVAL_SEC: { type: 'integer', minimum: 1, maximum: 86400, default: 30 },
    NOTIFY_WEBHOOK_URL: { type: 'string', pattern: '^https?://[^\\s]+$' },
    NOTIFY_WEBHOOK_SECRET: { type: 'string', minLength: 1 },
    NOTIFY_WEBHOOK_FORMAT: { enum: ['standard', 'slack'], default: 'standard' },
    NOTIFY_TENANT_WEBHOOKS: { type: 'string', minLength: 2 },
    NOTIFY_RETRY_MAX_SEC: { type: 'integer', minimum: 1, maximum: 604800, default: 86400 },
    NOTIFY_BACKOFF_MS: { type: 'integer', minimum: 10, maximum: 600000, default: 1000 },
    NOTIFY_TIMEOUT_MS: { type: 'integer', minimum: 100, maximum: 60000, default: 10000 },
    CONSOLE_BASE_URL: { type: 'string', pattern: '^https?://[^\\s]+$' }
  },
  additionalProperties: true
} as const

const validate = new Ajv({ coerceTypes: true, useDefaults: true, allErrors: true, strict: false }).compile(ENV_SCHEMA)

export class ConfigError extends Error {
  readonly problems: string[]
  constructor (problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

/** Reads and validates the environment; throws ConfigError naming every bad variable at once. */
export function loadConfig (env: Record<string, string | undefined>, cwd = process.cwd()): Config {
  const known = Object.keys(ENV_SCHEMA.properties)
  // Empty strings mean "unset", as they do for most shells' `VAR= cmd`.
  const input: Record<string, string> = {}
  for (const key of known) {
    const value = env[key]
    if (value !== undefined && value !== '') input[key] = value
  }
  if (!validate(input)) {
    const problems = (validate.errors ?? []).map((e) => {
      const name = e.instancePath.slice(1) || String(e.params.missingProperty ?? '')
      return `${name}: ${e.message ?? 'is invalid'}${'allowedValues' in e.params ? ` (${(e.params.allowedValues as string[]).join(', ')})` : ''}`
    })
    throw new ConfigError(problems)
  }
  const v = input as unknown as Record<string, string | number>
  const badProxies = v.TRUST_PROXY === undefined ? [] : (v.TRUST_PROXY as string).split(',').filter((p) => !isProxyAddress(p))
  if (badProxies.length > 0) {
    throw new ConfigError([`TRUST_PROXY: ${badProxies.join(', ')} is not an IP address, a CIDR range, loopback, linklocal or uniquelocal`])
  }
  const trustedKeys = v.POLICY_TRUSTED_KEYS === undefined ? [] : (v.POLICY_TRUSTED_KEYS as string).split(',').map((f) => f.trim())
  if (trustedKeys.includes('')) {
    throw new ConfigError(['POLICY_TRUSTED_KEYS: has an empty entry; give comma-separated paths of files holding PEM public keys'])
  }
  const databaseUrlProblem = v.DATABASE_URL === undefined ? undefined : databaseUrlProblemOf(v.DATABASE_URL as string)
  if (databaseUrlProblem !== undefined) throw new ConfigError([`DATABASE_URL: ${databaseUrlProblem}`])
  const notify = notifyConfig(v as unknown as Parameters<typeof notifyConfig>[0])
  if ('problems' in notify) throw new ConfigError(notify.problems)
  if (v.ARBITER_AUTH === 'disabled' && !isLoopback(v.HOST as string)) {
    throw new ConfigError([`ARBITER_AUTH: disabled is refused unless HOST is a loopback address (HOST is ${String(v.HOST)})`])
  }
  return Object.freeze({
    port: v.PORT as number,
    host: v.HOST as string,
    databaseUrl: v.DATABASE_URL as string | undefined,
    dataDir: path.resolve(cwd, v.DATA_DIR as string),
    policyPath: path.resolve(cwd, v.POLICY_PATH as string),
    shadowPolicyPath: v.POLICY_SHADOW_PATH === undefined ? undefined : path.resolve(cwd, v.POLICY_SHADOW_PATH as string),
    shadowRecord: v.POLICY_SHADOW_RECORD === 'disagreements',
    logLevel: v.LOG_LEVEL as LogLevel,
    checkBudgetMs: v.CHECK_BUDGET_MS as number,
    bodyLimitBytes: v.BODY_LIMIT_BYTES as number,
    hmacKeyFile: v.ARBITER_HMAC_KEY_FILE === undefined ? undefined : path.resolve(cwd, v.ARBITER_HMAC_KEY_FILE as string),
    watchPolicies: v.POLICY_WATCH === 'true',
    policyTrustedKeys: trustedKeys.map((f) => path.resolve(cwd, f)),
    checkpointKeyFile: v.ARBITER_CHECKPOINT_KEY_FILE === undefined ? undefined : path.resolve(cwd, v.ARBITER_CHECKPOINT_KEY_FILE as string),
    checkpointEvery: v.CHECKPOINT_EVERY as number,
    auditPartition: v.AUDIT_PARTITION as PartitionUnit,
    auditRetentionMonths: v.AUDIT_RETENTION_MONTHS as number | undefined,
    checkpointIntervalSec: v.CHECKPOINT_INTERVAL_SEC as number,
    checkpointWitnessFile: v.CHECKPOINT_WITNESS_FILE === undefined ? undefined : path.resolve(cwd, v.CHECKPOINT_WITNESS_FILE as string),
    checkpointWitnessUrl: v.CHECKPOINT_WITNESS_URL as string | undefined,
    authEnabled: v.ARBITER_AUTH === 'enabled',
    adminToken: v.ARBITER_ADMIN_TOKEN as string | undefined,
    authFailureLimit: v.AUTH_FAILURE_LIMIT as number,
    authFailureWindowSec: v.AUTH_FAILURE_WINDOW_SEC as number,
    metricsPort: v.METRICS_PORT as number | undefined,
    metricsHost: v.METRICS_HOST as string,
    trustProxy: v.TRUST_PROXY === undefined ? [] : (v.TRUST_PROXY as string).split(','),
    maxPendingApprovals: v.MAX_PENDING_APPROVALS as number,
    approvalSweepIntervalSec: v.APPROVAL_SWEEP_INTERVAL_SEC as number,
    notify: notify.config
  })
}

/**
 * Why a libpq host list (`postgres://db1:5432,db2:5432/arbiter`) cannot be used, read now so
 * that a bad one stops the start instead of every connection; never quoting the password.
 */
function databaseUrlProblemOf (url: string): string | undefined {
  try {
    parseDatabaseUrl(url)
    return undefined
  } catch (err) {
    // DatabaseUrlError is all it throws.
    return (err as DatabaseUrlError).message
  }
}

/** 127.0.0.0/8, ::1 and localhost: addresses no other machine can reach. */
export function isLoopback (host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
}

function isProxyAddress (entry: string): boolean {
  if (['loopback', 'linklocal', 'uniquelocal'].includes(entry)) return true
  const [address, prefix, ...rest] = entry.split('/')
  const family = isIP(address)
  if (family === 0 || rest.length > 0) return false
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128))
}

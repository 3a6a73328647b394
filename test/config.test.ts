import path from 'node:path'
import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.js'

t.test('defaults', async (t) => {
  const c = loadConfig({}, '/srv/arbiter')
  t.same(c, {
    port: 8080,
    host: '127.0.0.1',
    databaseUrl: undefined,
    dataDir: '/srv/arbiter/data',
    policyPath: '/srv/arbiter/policies',
    shadowPolicyPath: undefined,
    shadowRecord: false,
    logLevel: 'info',
    checkBudgetMs: 1500,
    bodyLimitBytes: 65536,
    hmacKeyFile: undefined,
    watchPolicies: true,
    policyTrustedKeys: [],
    checkpointKeyFile: undefined,
    checkpointEvery: 1000,
    checkpointIntervalSec: 60,
    auditPartition: 'month',
    auditRetentionMonths: undefined,
    authEnabled: true,
    adminToken: undefined,
    authFailureLimit: 20,
    authFailureWindowSec: 60,
    metricsPort: undefined,
    metricsHost: '127.0.0.1',
    trustProxy: [],
    maxPendingApprovals: 1000,
    approvalSweepIntervalSec: 30,
    notify: { global: undefined, tenants: new Map(), consoleBaseUrl: undefined, retryMaxSec: 86400, backoffMs: 1000, timeoutMs: 10000 }
  })
  t.ok(Object.isFrozen(c))
})

t.test('values from the environment, empty meaning unset', async (t) => {
  const c = loadConfig({
    PORT: '9000',
    HOST: '0.0.0.0',
    DATABASE_URL: 'postgres://u@db:5432/arbiter',
    DATA_DIR: '/var/lib/arbiter',
    POLICY_PATH: 'rules.yaml',
    POLICY_SHADOW_PATH: 'candidate',
    POLICY_SHADOW_RECORD: 'disagreements',
    LOG_LEVEL: 'debug',
    CHECK_BUDGET_MS: '800',
    BODY_LIMIT_BYTES: '',
    ARBITER_HMAC_KEY_FILE: '/run/secrets/hmac',
    POLICY_WATCH: 'false',
    MAX_PENDING_APPROVALS: '5',
    APPROVAL_SWEEP_INTERVAL_SEC: '2'
  }, '/srv')
  t.match(c, {
    port: 9000,
    host: '0.0.0.0',
    databaseUrl: 'postgres://u@db:5432/arbiter',
    dataDir: '/var/lib/arbiter',
    policyPath: path.join('/srv', 'rules.yaml'),
    shadowPolicyPath: path.join('/srv', 'candidate'),
    shadowRecord: true,
    logLevel: 'debug',
    checkBudgetMs: 800,
    bodyLimitBytes: 65536,
    hmacKeyFile: '/run/secrets/hmac',
    watchPolicies: false,
    maxPendingApprovals: 5,
    approvalSweepIntervalSec: 2
  })
})

t.test('every bad variable is named at once', async (t) => {
  try {
    loadConfig({ PORT: '70000', DATABASE_URL: 'mysql://x', CHECK_BUDGET_MS: '1.5', POLICY_WATCH: 'yes', POLICY_SHADOW_RECORD: 'all' })
    t.fail('should throw')
  } catch (err) {
    t.ok(err instanceof ConfigError)
    t.match((err as ConfigError).problems, [
      /^PORT: must be <= 65535/,
      /^DATABASE_URL: must match pattern/,
      /^POLICY_SHADOW_RECORD: must be equal to one of the allowed values \(off, disagreements\)/,
      /^CHECK_BUDGET_MS: must be integer/,
      /^POLICY_WATCH: must be equal to one of the allowed values \(true, false\)/
    ])
  }
})

t.test('authentication can be turned off only on a loopback address', async (t) => {
  for (const host of ['127.0.0.1', '127.3.2.1', '::1', 'localhost']) {
    t.equal(loadConfig({ ARBITER_AUTH: 'disabled', HOST: host }).authEnabled, false, `${host} is loopback`)
  }
  for (const host of ['0.0.0.0', '::', '10.0.0.5', 'arbiter.internal', '128.0.0.1']) {
    t.throws(() => loadConfig({ ARBITER_AUTH: 'disabled', HOST: host }), { name: 'ConfigError', message: /ARBITER_AUTH: disabled is refused unless HOST is a loopback address/ }, `${host} is refused`)
  }
  t.equal(loadConfig({ HOST: '0.0.0.0' }).authEnabled, true, 'on by default, on any address')
})

t.test('an admin token from the environment must be long enough and is never echoed', async (t) => {
  const short = 'too-short-to-be-256-bits'
  try {
    loadConfig({ ARBITER_ADMIN_TOKEN: short })
    t.fail('should throw')
  } catch (err) {
    t.match((err as ConfigError).problems, [/^ARBITER_ADMIN_TOKEN: must NOT have fewer than 43 characters/])
    t.notMatch((err as Error).message, short)
  }
  const token = 'x'.repeat(43)
  t.equal(loadConfig({ ARBITER_ADMIN_TOKEN: token }).adminToken, token)
})

t.test('TRUST_PROXY: addresses, CIDR ranges and the named ranges, nothing else', async (t) => {
  t.same(loadConfig({ TRUST_PROXY: '10.0.0.1,10.0.0.0/8,::1,fd00::/8,loopback' }).trustProxy, ['10.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8', 'loopback'])
  for (const bad of ['true', '10.0.0.0/33', 'proxy.internal', '10.0.0.1/8/8', '::1/129']) {
    t.throws(() => loadConfig({ TRUST_PROXY: bad }), { name: 'ConfigError', message: /TRUST_PROXY: .* is not an IP address/ }, bad)
  }
})

t.test('POLICY_TRUSTED_KEYS: comma-separated key files, resolved; an empty entry is refused', async (t) => {
  t.same(loadConfig({ POLICY_TRUSTED_KEYS: 'keys/a.pem, /etc/arbiter/b.pem' }, '/srv').policyTrustedKeys, ['/srv/keys/a.pem', '/etc/arbiter/b.pem'])
  t.same(loadConfig({ POLICY_TRUSTED_KEYS: '' }).policyTrustedKeys, [], 'empty means unset: signatures are not required')
  for (const bad of ['a.pem,', ',a.pem', 'a.pem,,b.pem', ' ']) {
    t.throws(() => loadConfig({ POLICY_TRUSTED_KEYS: bad }), { name: 'ConfigError', message: /POLICY_TRUSTED_KEYS: has an empty entry/ }, JSON.stringify(bad))
  }
})

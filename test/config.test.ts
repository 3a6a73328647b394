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
    logLevel: 'info',
    checkBudgetMs: 1500,
    bodyLimitBytes: 65536,
    hmacKeyFile: undefined,
    watchPolicies: true,
    checkpointKeyFile: undefined,
    checkpointEvery: 1000,
    checkpointIntervalSec: 60
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
    LOG_LEVEL: 'debug',
    CHECK_BUDGET_MS: '800',
    BODY_LIMIT_BYTES: '',
    ARBITER_HMAC_KEY_FILE: '/run/secrets/hmac',
    POLICY_WATCH: 'false'
  }, '/srv')
  t.match(c, {
    port: 9000,
    host: '0.0.0.0',
    databaseUrl: 'postgres://u@db:5432/arbiter',
    dataDir: '/var/lib/arbiter',
    policyPath: path.join('/srv', 'rules.yaml'),
    logLevel: 'debug',
    checkBudgetMs: 800,
    bodyLimitBytes: 65536,
    hmacKeyFile: '/run/secrets/hmac',
    watchPolicies: false
  })
})

t.test('every bad variable is named at once', async (t) => {
  try {
    loadConfig({ PORT: '70000', DATABASE_URL: 'mysql://x', CHECK_BUDGET_MS: '1.5', POLICY_WATCH: 'yes' })
    t.fail('should throw')
  } catch (err) {
    t.ok(err instanceof ConfigError)
    t.match((err as ConfigError).problems, [
      /^PORT: must be <= 65535/,
      /^DATABASE_URL: must match pattern/,
      /^CHECK_BUDGET_MS: must be integer/,
      /^POLICY_WATCH: must be equal to one of the allowed values \(true, false\)/
    ])
  }
})

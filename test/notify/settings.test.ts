/**
 * Webhook settings and signatures, without a server: the Standard Webhooks example signs as the
 * specification says, and a bad setting stops the start naming the variable, never the secret.
 */
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config.js'
import { parseSecret, signature } from '../../src/notify/signature.js'

const SECRET = `whsec_${randomBytes(32).toString('base64')}`
const base = { POLICY_PATH: '/nonexistent', DATA_DIR: '/tmp/arbiter-notify-settings' }

t.test('the specification\'s example signs to its documented signature', async (t) => {
  // From the Standard Webhooks specification's reference tests.
  const secret = parseSecret('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')
  t.ok(secret)
  t.equal(signature(secret as Buffer, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}'), 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=')
})

t.test('a secret is whsec_ and the base64 of 24 to 64 bytes', async (t) => {
  t.equal(parseSecret(`whsec_${randomBytes(24).toString('base64')}`)?.length, 24)
  t.equal(parseSecret(`whsec_${randomBytes(64).toString('base64')}`)?.length, 64)
  for (const bad of [`whsec_${randomBytes(16).toString('base64')}`, `whsec_${randomBytes(65).toString('base64')}`, randomBytes(32).toString('base64'), 'whsec_not base64!', `whsec_${randomBytes(32).toString('base64')}@@`]) {
    t.equal(parseSecret(bad), undefined, bad)
  }
})

t.test('notifications are off by default, and configured from the environment', async (t) => {
  const off = loadConfig(base).notify
  t.equal(off.global, undefined)
  t.equal(off.tenants.size, 0)
  t.match(off, { retryMaxSec: 86400, backoffMs: 1000, timeoutMs: 10000, consoleBaseUrl: undefined })

  const on = loadConfig({
    ...base,
    NOTIFY_WEBHOOK_URL: 'https://hooks.example.com/arbiter',
    NOTIFY_WEBHOOK_SECRET: SECRET,
    NOTIFY_TENANT_WEBHOOKS: JSON.stringify({ acme: { url: 'https://hooks.slack.com/services/T0/B0/xyz', format: 'slack' }, globex: { url: 'http://10.0.0.1:9000/in', secret: SECRET } }),
    CONSOLE_BASE_URL: 'https://arbiter.example.com/',
    NOTIFY_RETRY_MAX_SEC: '60'
  }).notify
  t.match(on.global, { url: 'https://hooks.example.com/arbiter', format: 'standard' })
  t.type(on.global?.sign, 'function')
  t.match(on.tenants.get('acme'), { format: 'slack', sign: undefined })
  t.match(on.tenants.get('globex'), { format: 'standard' })
  t.equal(on.consoleBaseUrl, 'https://arbiter.example.com', 'a trailing slash is dropped')
  t.equal(on.retryMaxSec, 60)
  t.notOk(JSON.stringify(on.global).includes(SECRET.slice(6)), 'the secret is not in the settings as data')
})

t.test('a bad setting stops the start, naming the variable and not the secret', async (t) => {
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['a URL that is not http(s)', { NOTIFY_WEBHOOK_URL: 'ftp://x.example.com/', NOTIFY_WEBHOOK_SECRET: SECRET }, /NOTIFY_WEBHOOK_URL/],
    ['no secret for the standard format', { NOTIFY_WEBHOOK_URL: 'https://x.example.com/' }, /NOTIFY_WEBHOOK_SECRET: is required/],
    ['a short secret', { NOTIFY_WEBHOOK_URL: 'https://x.example.com/', NOTIFY_WEBHOOK_SECRET: 'whsec_c2hvcnQ=' }, /NOTIFY_WEBHOOK_SECRET: must be whsec_/],
    ['a secret without a URL', { NOTIFY_WEBHOOK_SECRET: SECRET }, /without NOTIFY_WEBHOOK_URL/],
    ['an unknown format', { NOTIFY_WEBHOOK_URL: 'https://x.example.com/', NOTIFY_WEBHOOK_FORMAT: 'teams' }, /NOTIFY_WEBHOOK_FORMAT/],
    ['tenant webhooks that are not JSON', { NOTIFY_TENANT_WEBHOOKS: '{acme:' }, /NOTIFY_TENANT_WEBHOOKS: must be a JSON object/],
    ['a tenant webhook without a URL', { NOTIFY_TENANT_WEBHOOKS: JSON.stringify({ acme: { secret: SECRET } }) }, /NOTIFY_TENANT_WEBHOOKS\.acme\.url/],
    ['a tenant webhook with an unknown field', { NOTIFY_TENANT_WEBHOOKS: JSON.stringify({ acme: { url: 'https://x.example.com/', format: 'slack', retries: 3 } }) }, /unknown field retries/],
    ['a tenant webhook with a bad URL', { NOTIFY_TENANT_WEBHOOKS: JSON.stringify({ acme: { url: 'javascript:alert(1)', format: 'slack' } }) }, /NOTIFY_TENANT_WEBHOOKS\.acme\.url: must be an http/],
    ['a tenant id that is not one', { NOTIFY_TENANT_WEBHOOKS: JSON.stringify({ 'a b': { url: 'https://x.example.com/', format: 'slack' } }) }, /is not a tenant id/],
    ['a console URL that is not one', { CONSOLE_BASE_URL: 'arbiter.example.com' }, /CONSOLE_BASE_URL/],
    ['a retry limit of 0', { NOTIFY_RETRY_MAX_SEC: '0' }, /NOTIFY_RETRY_MAX_SEC/]
  ]
  for (const [name, env, message] of cases) {
    const err = (() => { try { loadConfig({ ...base, ...env }) } catch (e) { return e } })()
    t.type(err, ConfigError, name)
    t.match((err as Error).message, message, name)
    t.notOk((err as Error).message.includes(SECRET.slice(6)), `${name}: the secret is not quoted`)
  }
})

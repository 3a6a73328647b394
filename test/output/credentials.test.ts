import t, { type Test } from 'tap'
import { detectFindings, type FindingType } from '../../src/output/index.js'

// Every fake secret is assembled at run time from a seeded generator, so a secret scanner reading
// this file finds nothing, and a run is the same every time.
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
const B64URL = ALNUM + '_-'
const B64 = ALNUM + '+/'
const HEX = '0123456789abcdef'
let seed = 42
function rand (alphabet: string, n: number): string {
  let s = ''
  for (let i = 0; i < n; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    s += alphabet[(seed >> 8) % alphabet.length]
  }
  return s
}

/** The matched text of each finding of `type`. */
function found (text: string, type: FindingType): string[] {
  return detectFindings(text).filter((f) => f.type === type).map((f) => text.slice(f.start, f.end))
}

/** Each text holds exactly the secret given with it; each near miss holds none. */
function check (t: Test, type: FindingType, hits: Array<[string, string]>, misses: string[]): void {
  for (const [text, secret] of hits) t.same(found(text, type), [secret], `${type}: ${text.slice(0, 60)}`)
  for (const text of misses) t.same(found(text, type), [], `not ${type}: ${text.slice(0, 60)}`)
}

t.test('stripe_key: live secret and restricted keys, short or long', async (t) => {
  const sk = 'sk_' + 'live_' + rand(ALNUM, 24)
  const rk = 'rk_' + 'live_' + rand(ALNUM, 99)
  check(t, 'stripe_key', [[`STRIPE_SECRET_KEY=${sk}`, sk], [`stripe.api_key = "${rk}"`, rk]], [
    'pk_' + 'live_' + rand(ALNUM, 24), 'sk_' + 'live_' + rand(ALNUM, 23), 'sk_' + 'live_' + 'x'.repeat(24), 'ask_' + 'live_' + rand(ALNUM, 24),
    'sk_' + 'test_' + rand(ALNUM, 24)
  ])
})

t.test('stripe_test_key: test-mode keys are a type of their own', async (t) => {
  const sk = 'sk_' + 'test_' + rand(ALNUM, 24)
  check(t, 'stripe_test_key', [[`export STRIPE_KEY=${sk}`, sk]], ['pk_' + 'test_' + rand(ALNUM, 24), 'sk_' + 'test_' + 'short', 'sk_' + 'live_' + rand(ALNUM, 24)])
})

t.test('openai_key: legacy keys of 48 characters with the marker, and project, service-account and admin keys', async (t) => {
  const marker = 'T3Blbk' + 'FJ'
  const legacy = 'sk-' + rand(ALNUM, 20) + marker + rand(ALNUM, 20)
  const project = 'sk-' + 'proj-' + rand(B64URL, 74) + marker + rand(B64URL, 74)
  const service = 'sk-' + 'svcacct-' + rand(B64URL, 58) + marker + rand(B64URL, 58)
  check(t, 'openai_key', [[`OPENAI_API_KEY=${legacy}`, legacy], [`key: ${project}\n`, project], [`"${service}"`, service]], [
    'sk-' + rand(ALNUM, 48), 'sk-' + rand(ALNUM, 19) + marker + rand(ALNUM, 20), 'sk-' + rand(ALNUM, 20) + marker + rand(ALNUM, 21),
    'sk-' + 'proj-' + rand(B64URL, 30), 'sk-' + 'ant-api03-' + rand(B64URL, 93) + 'AA', 'task-' + rand(ALNUM, 20) + marker + rand(ALNUM, 20)
  ])
})

t.test('anthropic_key: API, admin and OAuth keys', async (t) => {
  const api = 'sk-' + 'ant-api03-' + rand(B64URL, 93) + 'AA'
  const admin = 'sk-' + 'ant-admin01-' + rand(B64URL, 93) + 'AA'
  check(t, 'anthropic_key', [[`ANTHROPIC_API_KEY=${api}`, api], [`x-api-key: ${admin}`, admin]], [
    'sk-' + 'ant-api03-' + rand(B64URL, 20), 'sk-' + 'ant-' + rand(B64URL, 60), 'sk-' + 'ant-api03-' + 'x'.repeat(95)
  ])
})

t.test('google_api_key: AIza and 35 characters, on its own', async (t) => {
  const key = 'AIza' + 'Sy' + rand(B64URL, 33)
  check(t, 'google_api_key', [[`https://maps.example/api?key=${key}&q=1`, key], [`apiKey: "${key}"`, key]], [
    'AIza' + rand(B64URL, 34), 'AIza' + rand(ALNUM, 36), 'aiza' + rand(ALNUM, 35), 'AIza' + 'a'.repeat(35), 'xAIza' + rand(ALNUM, 35)
  ])
})

t.test('azure_storage_key: the 88-character AccountKey of a connection string, the key only', async (t) => {
  const key = rand(B64, 86) + '=='
  const cs = `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${key};EndpointSuffix=core.windows.net`
  check(t, 'azure_storage_key', [[cs, key], [`"AZURE_STORAGE_CONNECTION_STRING": "...;accountkey=${key}"`, key]], [
    `AccountKey=${rand(B64, 85)}==`, `AccountKey=${rand(B64, 86)}=`, `AccountKey=${key}A`, 'AccountKey=<key>', `AccountKey=${'A'.repeat(86)}==`
  ])
})

t.test('npm_token: npm_ and 36 letters and digits', async (t) => {
  const token = 'npm_' + rand(ALNUM, 36)
  check(t, 'npm_token', [[`//registry.npmjs.org/:_authToken=${token}`, token]], [
    'npm_' + rand(ALNUM, 35), 'npm_' + rand(ALNUM, 37), 'npm_' + 'a'.repeat(36), 'run npm_config_cache=/tmp/x'
  ])
})

t.test('pypi_token: macaroons for pypi.org and test.pypi.org', async (t) => {
  const token = 'pypi-' + 'AgEIcHlwaS5vcmc' + rand(B64URL, 70)
  const test = 'pypi-' + 'AgENdGVzdC5weXBpLm9yZw' + rand(B64URL, 70)
  check(t, 'pypi_token', [[`password = ${token}`, token], [`TWINE_PASSWORD=${test}`, test]], [
    'pypi-' + 'AgEIcHlwaS5vcmc' + rand(B64URL, 20), 'pypi-' + rand(B64URL, 90), 'pip install pypi-simple'
  ])
})

t.test('gitlab_token: personal access tokens, classic and routable', async (t) => {
  const classic = 'glpat-' + rand(B64URL, 20)
  const routable = 'glpat-' + rand(B64URL, 27) + '.01' + rand('abcdefghijklmnopqrstuvwxyz0123456789', 7)
  check(t, 'gitlab_token', [[`PRIVATE-TOKEN: ${classic}`, classic], [`GITLAB_TOKEN=${routable} next`, routable]], [
    'glpat-' + rand(ALNUM, 19), 'glpat-' + 'XXXXXXXXXXX-XXXXXXXX', 'xglpat-' + rand(ALNUM, 20)
  ])
})

t.test('connection_string: the password of a database or broker URL, and nothing else of it', async (t) => {
  const pw = rand(ALNUM, 12)
  check(t, 'connection_string', [
    [`DATABASE_URL=postgres://app:${pw}@db.internal:5432/app`, pw], [`postgresql://u:${pw}%40x@h/d?sslmode=require`, `${pw}%40x`],
    [`mysql://root:${pw}@127.0.0.1:3306/shop`, pw], [`mongodb+srv://svc:${pw}@cluster0.example.net/db`, pw], [`redis://:${pw}@cache:6379/0`, pw],
    [`amqps://guest:${pw}@rabbit:5671/`, pw], [`postgres://u:p@ss${pw}@host/db`, `p@ss${pw}`], [`{"url": "mongodb://u:${pw}@h1:27017,h2:27017/db"}`, pw],
    [`postgresql+psycopg2://u:${pw}@h/d`, pw]
  ], [
    'postgres://postgres@127.0.0.1:5432/test', 'postgres://db.internal:5432/app', 'postgres://u:@h/d', 'postgres://u:$' + '{DB_PASSWORD}@h/d',
    'postgres://u:<password>@h/d', 'postgres://u:****@h/d', `https://u:${pw}@example.com`, 'redis://cache:6379/0', 'mongodb://h1:27017,h2:27017/db',
    'postgres://user@host:5432/db'
  ])
})

t.test('generic_secret: random values assigned to secret-like names', async (t) => {
  const key = rand(ALNUM, 32)
  const hex = rand(HEX, 64)
  const dashed = `${rand(ALNUM, 8)}-${rand(ALNUM, 8)}-${rand(ALNUM, 8)}`
  check(t, 'generic_secret', [
    [`API_KEY=${key}`, key], [`"client_secret": "${key}"`, key], [`ENCRYPTION_KEY=${hex}`, hex], [`credentials: ${key}\n`, key],
    [`app.secret_key = '${key}'`, key], [`{\\"auth\\": \\"${key}\\"}`, key], [`SECRET=${dashed}`, dashed]
  ], [
    'API_KEY=your-api-key-goes-here-1', 'secret: my_super_secret_password_123', `API_KEY=${rand(ALNUM, 19)}`, `"sha256": "${hex}"`,
    `checksum=${hex}`, `password_hash=${hex}`, `api_key: /run/secrets/${rand(ALNUM, 20)}`, `token_url: https://auth.example.com/${rand(ALNUM, 20)}`,
    'client_secret: ' + 'x'.repeat(30), 'api_key = $' + '{API_KEY_FROM_THE_ENVIRONMENT}', `"auth": "${rand('abcdefghijklmnopqrstuvwxyzABCDEFGHIJ', 30)}"`,
    `secret: "${rand(ALNUM, 12)} ${rand(ALNUM, 12)}"`, `public_key: ${key}`, 'access_token=' + 'Bearer',
    `GITHUB_TOKEN=${'ghp_' + rand(ALNUM, 36)}`, `api_key=${'AIza' + rand(ALNUM, 35)}`
  ])
})

t.test('generic_secret gives way to a specific finding on the same value; password_assignment stays beside it', async (t) => {
  const key = rand(ALNUM, 32)
  t.same(detectFindings(`password=${key}`).map((f) => f.type), ['generic_secret', 'password_assignment'])
  const github = 'ghp_' + rand(ALNUM, 36)
  t.same(detectFindings(`token=${github}`).map((f) => f.type), ['github_token', 'password_assignment'])
})

import { Buffer } from 'node:buffer'
import t from 'tap'
import {
  FINDING_TYPES, outputVerdict, redactOutput, scanOutput, summarizeFindings,
  type Finding, type FindingType, type FindingVerdicts
} from '../../src/output/index.js'
import { DEFAULT_FINDING_VERDICTS } from '../../src/policy/output-defaults.js'

// Fake secrets are assembled at run time, so a secret scanner reading this file finds nothing.
const DASHES = '-'.repeat(5)
const KEY_BODY = 'MIIEow' + 'IBAAKCAQEA'.repeat(4)
const PRIVATE_KEY = `${DASHES}BEGIN RSA PRIVATE KEY${DASHES}\n${KEY_BODY}\n${DASHES}END RSA PRIVATE KEY${DASHES}`
const AWS_KEY_ID = 'AKIA' + 'IOSFODNN7EXAMPLE'
const AWS_SECRET = 'wJalrXUtnFEMI/K7MDENG/' + 'bPxRfiCYEXAMPLEKEY'
const GITHUB = 'ghp_' + 'A1b2C3'.repeat(6)
const SLACK = 'xox' + 'b-' + '1234567890-' + 'AbCdEfGh'.repeat(3)
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
const JWT = `${b64({ alg: 'HS256' })}.${b64({ sub: 'fake' })}.c2ln`
const PASSWORD = 'hunter' + '2'
const CARD = '4242 4242 ' + '4242 4242'
const EMAIL = 'alice' + '@example.com'
const SECRETS = [KEY_BODY, AWS_KEY_ID, AWS_SECRET, GITHUB, SLACK, JWT, PASSWORD, CARD, EMAIL]

const DOCUMENT = [
  'job 42 finished',
  PRIVATE_KEY,
  `aws_access_key_id = ${AWS_KEY_ID}`,
  `aws_secret_access_key = ${AWS_SECRET}`,
  `{"github": "${GITHUB}", "slack": "${SLACK}"}`,
  `curl -H "Authorization: Bearer ${JWT}" "https://x.test/?password=${PASSWORD}&page=2"`,
  `charged ${CARD}, receipt to ${EMAIL}.`,
  'done'
].join('\n')

const finding = (type: FindingType, start: number, end: number): Finding => ({ type, start, end, line: 1, column: start + 1 })

t.test('a whole document: every type found, in order, with its line', async (t) => {
  const r = scanOutput(DOCUMENT, { maxBytes: 1 << 20 })
  t.equal(r.truncated, false)
  t.equal(r.totalBytes, Buffer.byteLength(DOCUMENT))
  t.equal(r.scannedBytes, r.totalBytes)
  t.equal(r.scannedLength, DOCUMENT.length)
  t.same(r.findings.map((f) => [f.type, f.line]), [
    ['private_key', 2], ['aws_access_key', 5], ['aws_access_key', 6], ['github_token', 7], ['slack_token', 7],
    ['jwt', 8], ['password_assignment', 8], ['card_number', 9], ['email', 9]
  ])
  const starts = r.findings.map((f) => f.start)
  t.same(starts, [...starts].sort((a, b) => a - b), 'sorted by start')
  const card = r.findings.find((f) => f.type === 'card_number')
  t.equal(card?.column, 'charged '.length + 1)
})

t.test('scanning stops at maxBytes, on a character boundary', async (t) => {
  const r = scanOutput('abcdefgh', { maxBytes: 5 })
  t.same({ ...r, findings: r.findings.length }, { findings: 0, scannedBytes: 5, scannedLength: 5, totalBytes: 8, truncated: true })
  t.match(scanOutput('aé', { maxBytes: 2 }), { scannedBytes: 1, scannedLength: 1, totalBytes: 3, truncated: true }, 'é is two bytes: it does not fit in the second')
  t.match(scanOutput('a€', { maxBytes: 3 }), { scannedBytes: 1, scannedLength: 1 })
  t.match(scanOutput('a\u{1F600}b', { maxBytes: 4 }), { scannedBytes: 1, scannedLength: 1 }, 'a surrogate pair is never split')
  t.match(scanOutput('a\u{1F600}b', { maxBytes: 5 }), { scannedBytes: 5, scannedLength: 3, truncated: true })
  t.match(scanOutput('\uD800x', { maxBytes: 3 }), { scannedBytes: 3, scannedLength: 1, totalBytes: 4 }, 'a lone surrogate counts as U+FFFD, as Buffer does')
  t.match(scanOutput('abc', { maxBytes: 0 }), { scannedBytes: 0, scannedLength: 0, truncated: true })
  t.match(scanOutput('', { maxBytes: 0 }), { scannedBytes: 0, totalBytes: 0, truncated: false })
  t.match(scanOutput('abc', { maxBytes: 3 }), { scannedBytes: 3, truncated: false }, 'exactly maxBytes is not truncated')
  t.throws(() => scanOutput('abc', { maxBytes: -1 }), RangeError)
  t.throws(() => scanOutput('abc', { maxBytes: Number.NaN }), RangeError)
})

t.test('the cut agrees with Buffer on mixed text', async (t) => {
  const alphabet = ['a', ' ', '\n', 'é', '€', '\u{1F600}', '\uD800', '\uDC00', 'ß', '中']
  let seed = 7
  const next = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed }
  for (let round = 0; round < 300; round++) {
    const text = Array.from({ length: next() % 40 }, () => alphabet[next() % alphabet.length]).join('')
    const maxBytes = next() % 60
    const r = scanOutput(text, { maxBytes })
    const prefix = text.slice(0, r.scannedLength)
    const nextChar = String.fromCodePoint(text.codePointAt(r.scannedLength) ?? 0)
    const fits = r.scannedBytes === Buffer.byteLength(prefix) && r.scannedBytes <= maxBytes &&
      (r.scannedLength === text.length || r.scannedBytes + Buffer.byteLength(nextChar) > maxBytes)
    if (!fits || r.totalBytes !== Buffer.byteLength(text)) {
      t.fail(`${JSON.stringify(text)} at ${maxBytes}: ${JSON.stringify(r)}`)
      return
    }
  }
  t.pass('300 random texts cut where Buffer says they should be')
})

t.test('a truncated scan finds only what lies in the prefix', async (t) => {
  const before = `mail ${EMAIL}\n`
  const text = before + `token=${GITHUB}\n`
  const r = scanOutput(text, { maxBytes: Buffer.byteLength(before) + 10 })
  t.same(r.findings.map((f) => f.type), ['email', 'password_assignment'], 'the token is cut: only its assignment prefix is seen')
  const k = scanOutput(`x\n${PRIVATE_KEY}`, { maxBytes: 62 })
  t.same(k.findings.map((f) => [f.type, f.start, f.end]), [['private_key', 2, 62]], 'a key cut by the scan runs to the cut')
  t.ok(k.findings.every((f) => f.end <= k.scannedLength))
  t.equal(redactOutput(text.slice(0, r.scannedLength), r.findings), 'mail [REDACTED:email]\ntoken=[REDACTED:password_assignment]',
    'redacting the scanned prefix leaves the rest to the caller')
})

t.test('redaction replaces every secret and nothing else', async (t) => {
  const r = scanOutput(DOCUMENT, { maxBytes: 1 << 20 })
  const redacted = redactOutput(DOCUMENT, r.findings)
  for (const secret of SECRETS) t.notOk(redacted.includes(secret), `no trace of ${secret.slice(0, 6)}…`)
  t.equal(redacted.split('\n')[0], 'job 42 finished')
  t.ok(redacted.includes('aws_secret_access_key = [REDACTED:aws_access_key]'), 'the name of an assigned secret stays')
  t.ok(redacted.includes('"https://x.test/?password=[REDACTED:password_assignment]&page=2"'))
  t.ok(redacted.includes('Bearer [REDACTED:jwt]"'), 'the quote after a token stays')
  t.ok(redacted.endsWith(', receipt to [REDACTED:email].\ndone'))
  t.same(scanOutput(redacted, { maxBytes: 1 << 20 }).findings, [], 'redacted output scans clean')
  t.equal(redactOutput('nothing here', []), 'nothing here')
})

t.test('overlapping findings merge into their union, labelled by the widest', async (t) => {
  const text = '0123456789abcdefghij'
  t.equal(redactOutput(text, [finding('email', 2, 8), finding('jwt', 5, 15)]), '01[REDACTED:jwt]fghij')
  t.equal(redactOutput(text, [finding('jwt', 5, 15), finding('email', 2, 8)]), '01[REDACTED:jwt]fghij', 'input order does not matter')
  t.equal(redactOutput(text, [finding('email', 0, 20), finding('jwt', 5, 6)]), '[REDACTED:email]', 'a contained finding disappears into its container')
  t.equal(redactOutput(text, [finding('email', 0, 4), finding('jwt', 3, 8), finding('card_number', 7, 12)]), '[REDACTED:jwt]cdefghij', 'chains of overlaps merge')
  t.equal(redactOutput(text, [finding('password_assignment', 2, 6), finding('jwt', 2, 6)]), '01[REDACTED:jwt]6789abcdefghij', 'equal spans: the earlier type in FINDING_TYPES')
  t.equal(redactOutput(text, [finding('email', 0, 5), finding('jwt', 5, 10)]), '[REDACTED:email][REDACTED:jwt]abcdefghij', 'adjacent findings stay apart')
  t.equal(redactOutput(text, [finding('email', 15, 99), finding('jwt', -3, 2), finding('card_number', 4, 4)]), '[REDACTED:jwt]23456789abcde[REDACTED:email]',
    'spans are clamped to the text; empty ones are dropped')
})

t.test('the verdict is the most restrictive over the findings', async (t) => {
  const f = (...types: FindingType[]): Finding[] => types.map((type, i) => finding(type, i, i + 1))
  t.same(outputVerdict([], DEFAULT_FINDING_VERDICTS), { verdict: 'ALLOW', because: [] })
  t.same(outputVerdict(f('email', 'email', 'card_number'), DEFAULT_FINDING_VERDICTS), { verdict: 'REDACT', because: ['card_number', 'email'] })
  t.same(outputVerdict(f('email', 'github_token', 'jwt', 'private_key'), DEFAULT_FINDING_VERDICTS), { verdict: 'QUARANTINE', because: ['private_key', 'github_token'] })
  const lenient: FindingVerdicts = { ...DEFAULT_FINDING_VERDICTS, email: 'allow', github_token: 'redact' }
  t.same(outputVerdict(f('email'), lenient), { verdict: 'ALLOW', because: ['email'] }, 'allowed findings are still named')
  t.same(outputVerdict(f('email', 'github_token'), lenient), { verdict: 'REDACT', because: ['github_token'] })
  const broken = { ...DEFAULT_FINDING_VERDICTS, email: 'ignore' } as unknown as FindingVerdicts
  t.same(outputVerdict(f('email'), broken), { verdict: 'QUARANTINE', because: ['email'] }, 'a verdict outside the three fails closed')
})

t.test('the default verdicts cover every type and cannot be changed', async (t) => {
  t.same(Object.keys(DEFAULT_FINDING_VERDICTS).sort(), [...FINDING_TYPES].sort())
  t.same(FINDING_TYPES.filter((type) => DEFAULT_FINDING_VERDICTS[type] === 'quarantine'), [
    'private_key', 'aws_access_key', 'github_token', 'slack_token', 'stripe_key', 'openai_key', 'anthropic_key', 'google_api_key',
    'azure_storage_key', 'npm_token', 'pypi_token', 'gitlab_token', 'connection_string', 'generic_secret'
  ])
  t.ok(Object.isFrozen(DEFAULT_FINDING_VERDICTS))
})

t.test('summaries carry positions and never the text', async (t) => {
  const r = scanOutput(DOCUMENT, { maxBytes: 1 << 20 })
  const withExtra = r.findings.map((f) => ({ ...f, match: 'leak' }))
  const summary = summarizeFindings(withExtra)
  t.equal(summary.length, r.findings.length)
  t.same(Object.keys(summary[0]), ['type', 'line', 'column', 'start', 'end'])
  const json = JSON.stringify(summary)
  for (const secret of [...SECRETS, 'leak']) t.notOk(json.includes(secret), `summary holds no ${secret.slice(0, 6)}…`)
  t.same(summarizeFindings([]), [])
})

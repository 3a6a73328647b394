import t from 'tap'
import {
  compilePatternDetector, detectFindings, findPatternMatches, MAX_MATCH_LENGTH, MAX_MATCHES, MAX_PROGRAM_SIZE,
  outputVerdict, redactOutput, scanOutput, type PatternDetector
} from '../../src/output/index.js'
import { compilePolicy } from '../../src/policy/compile.js'
import { DEFAULT_FINDING_VERDICTS } from '../../src/policy/output-defaults.js'

function detector (pattern: string, id = 'custom', verdict: PatternDetector['verdict'] = 'redact'): PatternDetector {
  const compiled = compilePatternDetector({ id, pattern, verdict })
  if ('error' in compiled) throw new Error(compiled.error)
  return compiled.detector
}

/** The matched text of each match. */
const matches = (text: string, d: PatternDetector): string[] => findPatternMatches(text, d).map((s) => text.slice(s.start, s.end))

t.test('a detector finds every match, leftmost first, as RE2 does', async (t) => {
  const ticket = detector('(?i)acme-[0-9a-f]{8}')
  t.same(matches('x ACME-0a1b2c3d y acme-deadbeef', ticket), ['ACME-0a1b2c3d', 'acme-deadbeef'])
  t.same(matches('no match here', ticket), [])
  t.same(matches('a\nb', detector('(?m)^b$')), ['b'], 'multi-line anchors')
  t.same(matches('xfoo foo', detector('\\bfoo')), ['foo'], 'a word boundary sees the text before the match')
  t.same(matches('\u{1F600} id-42', detector('id-\\d+')), ['id-42'], 'offsets are UTF-16 units, as the built-in findings')
})

t.test('matches past a window edge are found whole, and anchors see the text, not the window', async (t) => {
  const pad = 'x'.repeat(MAX_MATCH_LENGTH * 3 + 7)
  const token = 'tok_' + 'a'.repeat(MAX_MATCH_LENGTH - 10)
  for (let shift = 0; shift < 6; shift++) {
    const text = pad.slice(shift * 500) + ' ' + token + ' ' + pad
    t.same(matches(text, detector('tok_[a-z]+')), [token], `token at ${text.indexOf(token)}`)
  }
  const end = detector('end$')
  const text = 'end '.repeat(MAX_MATCH_LENGTH) + 'end'
  t.same(findPatternMatches(text, end), [{ start: text.length - 3, end: text.length }], '`$` only at the end of the text')
  t.same(matches('y'.repeat(3 * MAX_MATCH_LENGTH) + 'ab', detector('a|ab')), ['a'], 'leftmost-first, as RE2: a then ab')
  t.same(matches('q'.repeat(2 * MAX_MATCH_LENGTH) + 'Kab', detector('Ka|Kab|b')), ['Ka', 'b'])
  const long = 'x ' + 'k'.repeat(5 * MAX_MATCH_LENGTH) + ' y'
  t.equal(redactOutput(long, detectFindings(long, [detector('k+')])).replaceAll('[REDACTED:custom]', ''), 'x  y',
    'a match longer than two windows is found in pieces that cover it')
})

t.test('a detector that matches everywhere stops after MAX_MATCHES: the rest is one finding', async (t) => {
  const text = 'ab '.repeat(MAX_MATCHES + 50)
  const spans = findPatternMatches(text, detector('ab'))
  t.equal(spans.length, MAX_MATCHES + 1)
  t.same(spans[MAX_MATCHES], { start: spans[MAX_MATCHES - 1].end, end: text.length }, 'fails closed: the rest is redacted too')
  t.equal(redactOutput(text, detectFindings(text, [detector('ab')])).includes('ab'), false)
})

t.test('catastrophic backtracking patterns run in linear time', async (t) => {
  // V8 needs about 2^n steps for (a+)+$ on n a's and a '!': 30,000 would outlast the universe.
  const text = 'a'.repeat(30000) + '!'
  const evil = detector('(a+)+$')
  const started = performance.now()
  t.same(findPatternMatches(text, evil), [])
  const nested = detector('(a|aa)+b')
  t.same(findPatternMatches(text, nested), [])
  const ms = performance.now() - started
  t.comment(`(a+)+$ and (a|aa)+b on 30,000 a's and '!': ${ms.toFixed(1)} ms`)
  // Many short matches, each followed by a long failing alternative: quadratic over all matches
  // without the windows (every match reads to the end of the run), linear with them.
  const run = 'a'.repeat(200_000)
  const started2 = performance.now()
  t.equal(findPatternMatches(run, detector('a[^!]*!|a')).length, MAX_MATCHES + 1)
  t.comment(`a[^!]*!|a on 200,000 a's: ${(performance.now() - started2).toFixed(1)} ms`)
})

t.test('a pattern RE2 cannot run, or that would match everywhere, does not compile', async (t) => {
  const bad = (pattern: string): string => {
    const compiled = compilePatternDetector({ id: 'x', pattern, verdict: 'redact' })
    return 'error' in compiled ? compiled.error : ''
  }
  t.match(bad('(a)\\1'), /not one RE2 accepts.*backreference/i)
  t.match(bad('foo(?=bar)'), /not one RE2 accepts/)
  t.match(bad('(?<!x)y'), /not one RE2 accepts/)
  t.match(bad('[a-'), /not one RE2 accepts/)
  t.match(bad('a{1001}'), /not one RE2 accepts/)
  t.match(bad('[a-z]{1000}[0-9]{1000}[a-z]{100}'), new RegExp(`too large .*at most ${MAX_PROGRAM_SIZE}`))
  t.match(bad('a*'), /matches the empty text/)
  t.equal(bad('(?i)sk_[a-z0-9]{24,}'), '')
})

t.test('policy detector findings join the built-in ones, with their own type and verdict', async (t) => {
  const ticket = detector('TICKET-\\d{6}', 'ticket_ref', 'quarantine')
  const text = 'mail ops@example.com about TICKET-123456'
  const r = scanOutput(text, { maxBytes: 1 << 20, detectors: [ticket, detector('zzz', 'unused', 'allow')] })
  t.same(r.findings.map((f) => [f.type, f.line, f.column]), [['email', 1, 6], ['ticket_ref', 1, 28]])
  const verdicts = { ...DEFAULT_FINDING_VERDICTS, ticket_ref: 'quarantine' as const }
  t.same(outputVerdict(r.findings, verdicts), { verdict: 'QUARANTINE', because: ['ticket_ref'] })
  t.same(outputVerdict(r.findings, DEFAULT_FINDING_VERDICTS), { verdict: 'QUARANTINE', because: ['ticket_ref'] }, 'a type without a verdict fails closed')
  t.equal(redactOutput(text, r.findings), 'mail [REDACTED:email] about [REDACTED:ticket_ref]')
  const both = scanOutput('id ab', { maxBytes: 99, detectors: [detector('ab', 'b_id'), detector('ab', 'a_id')] }).findings
  t.same(both.map((f) => f.type), ['b_id', 'a_id'], 'equal spans in the order of the policy')
  t.equal(redactOutput('id ab', both), 'id [REDACTED:a_id]', 'a tie between policy detectors is labelled by the first id in alphabetical order')
  const key = 'k3Y' + 'x9Qz'.repeat(6)
  t.same(detectFindings(`api_key=${key}`, [detector('k3Y\\w+', 'house_key')]).map((f) => f.type), ['password_assignment', 'house_key'],
    'a value a policy detector claims is not a generic_secret')
})

const policy = (detectors: string): Array<{ file: string, text: string }> => [{
  file: 'p.yaml',
  text: `version: v1\noutput_rules:\n  detectors:\n${detectors}\nrules:\n  - { id: allow-all, match: {}, decision: allow }\n`
}]

t.test('policy detectors compile at load; a bad one is a problem at its file and line', async (t) => {
  const ok = compilePolicy(policy("    - { id: ticket_ref, pattern: 'TICKET-\\d{6}', verdict: quarantine }"))
  if (!ok.ok) throw new Error(JSON.stringify(ok.problems))
  t.same(ok.policy.output.detectors.map((d) => [d.id, d.verdict]), [['ticket_ref', 'quarantine']])
  t.equal(ok.policy.output.verdicts.ticket_ref, 'quarantine')
  t.equal(ok.policy.output.verdicts.email, 'redact', 'built-in defaults stay')

  const bad = compilePolicy(policy([
    "    - { id: ok_one, pattern: 'a+b', verdict: redact }",
    "    - { id: backref, pattern: '(a)\\1', verdict: redact }",
    "    - { id: email, pattern: 'x+', verdict: allow }",
    "    - { id: ok_one, pattern: 'c+', verdict: allow }",
    "    - { id: lookahead, pattern: 'x(?=y)', verdict: quarantine }"
  ].join('\n')))
  t.equal(bad.ok, false)
  if (bad.ok) return
  t.same(bad.problems.map((p) => [p.file, p.line, p.message.replace(/: .*/, '')]), [
    ['p.yaml', 5, 'output_rules.detectors[1] pattern is not one RE2 accepts (no backreferences or lookaround)'],
    ['p.yaml', 6, "output_rules.detectors[2] id 'email' is a built-in finding type"],
    ['p.yaml', 7, "output_rules.detectors[3] id 'ok_one' is used twice"],
    ['p.yaml', 8, 'output_rules.detectors[4] pattern is not one RE2 accepts (no backreferences or lookaround)']
  ])
  const schema = compilePolicy(policy("    - { id: Bad-Id, pattern: 'x', verdict: maybe }"))
  t.equal(schema.ok, false, 'ids are lower_snake and verdicts one of three, as the schema says')
})

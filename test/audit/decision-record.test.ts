import t from 'tap'
import { signDecision, verifyStoredDecision, type DecisionFields, type StoredDecision } from '../../src/audit/decision-record.js'
import { jobHash, normalizeJob } from '../../src/policy/index.js'

const key = { id: 'hk_test', secret: Buffer.alloc(32, 7) }
const job = normalizeJob({ job_id: 'j1', topic: 'a.b', risk_tags: ['prod'] })
const fields: DecisionFields = {
  decision_id: '00000000-0000-4000-8000-000000000001',
  trace_id: 'tr',
  checked_at: '2026-01-01T00:00:00.000Z',
  job,
  job_hash: jobHash(job),
  decision: 'ALLOW',
  reason: 'ok',
  rule_id: 'r',
  matched_rules: ['r'],
  policy_snapshot: 'sha256:aa'
}

function stored (): StoredDecision {
  const s = signDecision(fields, key)
  return { decision_id: fields.decision_id, trace_id: 'tr', job_id: 'j1', tenant_id: 'default', topic: 'a.b', decision: 'ALLOW', rule_id: 'r', job_hash: fields.job_hash, policy_snapshot: 'sha256:aa', checked_at: new Date(fields.checked_at), record: s.canonical, key_id: key.id, signature: s.mac }
}
const keys = new Map([[key.id, key.secret]])

t.test('a signed record verifies; the signature names its key', async (t) => {
  const s = signDecision(fields, key)
  t.match(s.signature, /^hmac-sha256:hk_test:[0-9a-f]{64}$/)
  t.match(s.canonical, /^\{"checked_at":/, 'canonical JSON has sorted keys')
  t.equal(verifyStoredDecision(stored(), keys), null)
  t.equal(signDecision(fields, key).canonical, s.canonical, 'deterministic')
})

t.test('every kind of tampering is caught', async (t) => {
  const cases: Array<[string, (r: StoredDecision) => void, RegExp]> = [
    ['a flipped byte in the record', (r) => { r.record = r.record.replace('"ALLOW"', '"DENY"') }, /signature does not match/],
    ['a column changed', (r) => { r.decision = 'DENY' }, /column decision/],
    ['a different job id column', (r) => { r.job_id = 'j2' }, /column job_id/],
    ['a forged signature', (r) => { r.signature = '0'.repeat(64) }, /signature does not match/],
    ['a truncated signature', (r) => { r.signature = 'ab' }, /signature does not match/],
    ['an unknown key', (r) => { r.key_id = 'hk_other' }, /unknown key id/],
    ['a moved timestamp', (r) => { r.checked_at = new Date(0) }, /column checked_at/]
  ]
  for (const [name, tamper, problem] of cases) {
    const r = stored()
    tamper(r)
    t.match(verifyStoredDecision(r, keys), problem, name)
  }
  const reSigned = signDecision({ ...fields, job: { ...job, topic: 'a.c' } }, key)
  const r = stored()
  r.record = reSigned.canonical
  r.signature = reSigned.mac
  t.match(verifyStoredDecision(r, keys), /job_hash does not match/, 'a job swapped under its hash, even re-signed')
})

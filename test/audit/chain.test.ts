import t from 'tap'
import { ChainVerifier, GENESIS_HASH, checkRecord, sealRecord, sha256Tagged, type AuditEntry, type SealedRecord, type StoredRecord } from '../../src/audit/chain.js'

const key = { id: 'hk_a', secret: Buffer.alloc(32, 7) }
const keys = new Map([[key.id, key.secret]])

function entry (i: number): AuditEntry {
  return { type: 'decision', tenant_id: 'acme', trace_id: `t${i}`, job_id: `j${i}`, at: new Date(i * 1000).toISOString(), actor: null, body: { decision: 'ALLOW', n: i } }
}

function chain (n: number, k = key): StoredRecord[] {
  let prev = GENESIS_HASH
  return Array.from({ length: n }, (_, i) => {
    const s = sealRecord(entry(i + 1), i + 1, prev, k)
    prev = s.hash
    return stored(s)
  })
}

function stored (s: SealedRecord): StoredRecord {
  return { tenant_id: s.entry.tenant_id, seq: s.seq, record: s.canonical, key_id: s.keyId, signature: s.mac, prev_hash: s.prevHash, hash: s.hash }
}

function verify (records: StoredRecord[], withKeys = true): { seq: number, problem: string } | null {
  const v = new ChainVerifier('acme', undefined, withKeys ? keys : undefined)
  for (const r of records) {
    const p = v.next(r)
    if (p !== null) return p
  }
  return null
}

t.test('a sealed chain verifies; records bind their place', async (t) => {
  const records = chain(5)
  t.equal(verify(records), null)
  t.match(records[0].record, /"log":"acme".*"prev":"sha256:0{64}".*"seq":1/)
  t.equal(records[1].prev_hash, records[0].hash)
  t.equal(checkRecord(records[2], keys), null)
})

t.test('each kind of tampering is caught at the first bad seq', async (t) => {
  const flipped = chain(6)
  flipped[2] = { ...flipped[2], record: flipped[2].record.replace('"ALLOW"', '"DENY!"') }
  t.match(verify(flipped), { seq: 3, problem: /canonical form|hash does not match/ })

  const deleted = chain(6)
  deleted.splice(3, 1)
  t.match(verify(deleted), { seq: 4, problem: /expected seq 4, found 5: a record is missing or out of order/ })

  const swapped = chain(6)
  ;[swapped[1], swapped[2]] = [swapped[2], swapped[1]]
  t.match(verify(swapped), { seq: 2, problem: /expected seq 2, found 3/ })

  // Renumbering after a deletion keeps seqs gapless, but breaks the signed place and the links.
  const renumbered = chain(6)
  renumbered.splice(2, 1)
  for (let i = 2; i < renumbered.length; i++) renumbered[i] = { ...renumbered[i], seq: i + 1 }
  t.match(verify(renumbered), { seq: 3, problem: /stored columns do not match/ })

  // Re-chaining the tail under another key: links and hashes are consistent, signatures are not.
  const forger = { id: 'hk_a', secret: Buffer.alloc(32, 9) }
  const forged = chain(6)
  let prev = forged[2].hash
  for (let i = 3; i < 6; i++) {
    const s = sealRecord({ ...entry(i + 1), body: { decision: 'DENY', n: i + 1 } }, i + 1, prev, forger)
    prev = s.hash
    forged[i] = stored(s)
  }
  t.equal(verify(forged, false), null, 'without the HMAC key only a checkpoint can catch a re-chained tail')
  t.match(verify(forged), { seq: 4, problem: /signature does not match/ })

  const otherLog = chain(2)
  otherLog[1] = { ...otherLog[1], tenant_id: 'evil' }
  t.match(verify(otherLog), { seq: 2, problem: /record of log evil/ })

  const unknownKey = chain(2)
  unknownKey[1] = { ...unknownKey[1], key_id: 'hk_zz' }
  t.match(verify(unknownKey), { seq: 2, problem: /stored columns/ })
})

t.test('a verifier can start mid-log from a trusted point', async (t) => {
  const records = chain(10)
  const v = new ChainVerifier('acme', { seq: 6, prevHash: records[4].hash }, keys)
  for (const r of records.slice(5)) t.equal(v.next(r), null)
  t.same(v.head, { seq: 10, hash: records[9].hash })
  const wrong = new ChainVerifier('acme', { seq: 6, prevHash: records[3].hash })
  t.match(wrong.next(records[5]), { seq: 6, problem: /link is broken/ })
})

t.test('a record that is valid JSON but not a record object is named, not a crash', async (t) => {
  for (const text of ['null', '[]', '"x"', '{"v":2}']) {
    const r: StoredRecord = { tenant_id: 'acme', seq: 1, record: text, key_id: 'hk_a', signature: '00', prev_hash: GENESIS_HASH, hash: sha256Tagged(text) }
    t.equal(checkRecord(r, keys), 'record is not a version 1 record object', text)
  }
})

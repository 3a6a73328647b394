/**
 * The pure signature check, against what someone who can write the policy directory but holds
 * no trusted private key might try.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import t from 'tap'
import { checkpointKeyId } from '../../src/audit/checkpoint-key.js'
import { signCheckpoint } from '../../src/audit/checkpoint.js'
import {
  formatSignature, parseSignature, policyKeyId, signaturePayload, signPolicy, verifyPolicySignature, type PolicySignature, type TrustedKeys
} from '../../src/live-policy/signature.js'
import type { PolicySource } from '../../src/policy/types.js'

const AT = new Date('2026-12-04T10:00:00.000Z')
const A = { file: 'a.yaml', text: 'version: v1\nrules: []\n' }
const B = { file: 'b.yaml', text: 'version: v1\ndefaults: { decision: deny }\nrules: []\n' }

function keyPair (): { privateKey: KeyObject, publicKey: KeyObject, id: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  return { privateKey, publicKey, id: policyKeyId(publicKey) }
}

const signer = keyPair()
const trusted: TrustedKeys = new Map([[signer.id, signer.publicKey]])

function signed (sources: PolicySource[], key = signer): string {
  return formatSignature(signPolicy(sources, key.privateKey, key.publicKey, AT))
}

function verdict (sources: PolicySource[], sig: string | undefined, keys = trusted): ReturnType<typeof verifyPolicySignature> {
  return verifyPolicySignature(sources, sig, keys, 'policy.sig')
}

function edited (sig: string, change: (s: PolicySignature) => void): string {
  const s = JSON.parse(sig) as PolicySignature
  change(s)
  return JSON.stringify(s)
}

t.test('a policy signed by a trusted key verifies, whatever order its files are read in', async (t) => {
  t.match(signer.id, /^ek_[0-9a-f]{16}$/)
  t.equal(signer.id, checkpointKeyId(signer.publicKey.export({ type: 'spki', format: 'der' })), 'the checkpoint keys\' id scheme')
  const sig = signed([A, B])
  t.same(verdict([A, B], sig), { ok: true, keyId: signer.id, signedAt: AT.toISOString() })
  t.same(verdict([B, A], sig), { ok: true, keyId: signer.id, signedAt: AT.toISOString() })
  t.match(JSON.parse(sig), { format: 'arbiter-policy-signature/v1', key_id: signer.id, files: [{ file: 'a.yaml' }, { file: 'b.yaml' }] })
  t.same(verdict([A], signed([A])), { ok: true, keyId: signer.id, signedAt: AT.toISOString() }, 'a single-file policy')
})

t.test('no signature, or one that is not a signature, is refused', async (t) => {
  t.match(verdict([A], undefined), { ok: false, problems: [/^policy\.sig: missing; POLICY_TRUSTED_KEYS is set/] })
  const sig = signed([A])
  const cases: Array<[string, string, RegExp]> = [
    ['empty', '', /not JSON/],
    ['garbage', 'ssh-ed25519 AAAA…', /not JSON/],
    ['truncated', sig.slice(0, sig.length / 2), /not JSON/],
    ['an array', '[]', /not a JSON object/],
    ['another format', edited(sig, (s) => { (s as { format: string }).format = 'v0' }), /format is not arbiter-policy-signature\/v1/],
    ['a field nobody signed', edited(sig, (s) => { Object.assign(s, { note: 'trust me' }) }), /unknown field\(s\) note/],
    ['a bad key id', edited(sig, (s) => { s.key_id = 'ek_zz' }), /key_id is not a key id/],
    ['a bad time', edited(sig, (s) => { s.signed_at = 'yesterday' }), /signed_at is not a time/],
    ['a truncated signature', edited(sig, (s) => { s.signature = s.signature.slice(0, 40) }), /signature is not a base64 Ed25519 signature/],
    ['a padded signature', edited(sig, (s) => { s.signature = 'AAAA' + s.signature }), /signature is not a base64 Ed25519 signature/],
    ['files not a list', edited(sig, (s) => { Object.assign(s, { files: 'a.yaml' }) }), /files is not a list/],
    ['a file without its hash', edited(sig, (s) => { Object.assign(s.files[0], { sha256: 'x' }) }), /files is not a list/],
    ['a file named twice', edited(sig, (s) => { s.files.push(s.files[0]) }), /names a file twice/]
  ]
  for (const [what, text, problem] of cases) {
    const v = verdict([A], text)
    t.equal(v.ok, false, what)
    if (!v.ok) t.match(v.problems, [problem], what)
  }
})

t.test('a signature by a key that is not trusted is refused, even over the right files', async (t) => {
  const other = keyPair()
  t.match(verdict([A, B], signed([A, B], other)), { ok: false, problems: [new RegExp(`^policy\\.sig: signed by key ${other.id}, which is not trusted \\(POLICY_TRUSTED_KEYS holds ${signer.id}\\)$`)] })
  // Naming a trusted key id does not help: the signature is checked with the trusted key.
  const forged = edited(signed([A, B], other), (s) => { s.key_id = signer.id })
  t.match(verdict([A, B], forged), { ok: false, problems: [/does not verify with key/] })
})

t.test('a file added, removed, renamed or changed after signing is refused, and named', async (t) => {
  const sig = signed([A, B])
  const C = { file: 'c.yaml', text: 'version: v1\nrules: []\n' }
  t.same(verdict([A, B, C], sig), { ok: false, problems: ['c.yaml: not covered by policy.sig (added or renamed after signing)'] })
  t.same(verdict([A], sig), { ok: false, problems: ['b.yaml: signed, but missing (removed or renamed after signing)'] })
  t.same(verdict([A, { ...B, file: 'z.yaml' }], sig), { ok: false, problems: ['z.yaml: not covered by policy.sig (added or renamed after signing)', 'b.yaml: signed, but missing (removed or renamed after signing)'] })
  // Renaming changes the order files are compiled in, and so which `defaults` wins: it is a change.
  t.same(verdict([{ ...A, file: 'b.yaml' }, { ...B, file: 'a.yaml' }], sig), { ok: false, problems: ['a.yaml: changed after signing', 'b.yaml: changed after signing'] })
  t.same(verdict([A, { ...B, text: B.text + '# a comment\n' }], sig), { ok: false, problems: ['b.yaml: changed after signing'] })
})

t.test('the file list cannot be edited to match: the payload is rebuilt from the files read', async (t) => {
  const C = { file: 'c.yaml', text: 'version: v1\nrules: []\n' }
  const withC = [A, B, C]
  const listed = edited(signed([A, B]), (s) => { s.files = JSON.parse(signed(withC)).files })
  t.match(verdict(withC, listed), { ok: false, problems: [/^policy\.sig: the signature does not verify with key ek_/] }, 'a file added to the list')
  const omitted = edited(signed([A, B]), (s) => { s.files = s.files.filter((f) => f.file !== 'b.yaml') })
  t.match(verdict([A], omitted), { ok: false, problems: [/does not verify/] }, 'a file removed from the list, and from the directory')
  const later = edited(signed([A, B]), (s) => { s.signed_at = '2027-01-01T00:00:00.000Z' })
  t.match(verdict([A, B], later), { ok: false, problems: [/does not verify/] }, 'the time is signed too')
})

t.test('a signature from another signed policy does not carry over', async (t) => {
  const elsewhere = signed([A, { file: 'b.yaml', text: 'version: v1\nrules: []\n' }])
  t.same(verdict([A, B], elsewhere), { ok: false, problems: ['b.yaml: changed after signing'] })
  t.match(verdict([A], signed([{ ...A, file: 'main.yaml' }])), { ok: false }, 'a single file signed under another name')
})

t.test('no file name can make two different file sets sign alike', async (t) => {
  // With a line-per-file payload, one file whose name holds a newline and the second line
  // could stand in for two; JSON quotes the newline, so the payloads differ.
  const sha = (s: PolicySource): string => JSON.parse(signed([s])).files[0].sha256
  const two = signaturePayload(signer.id, AT.toISOString(), [{ file: 'a.yaml', sha256: sha(A) }, { file: 'b.yaml', sha256: sha(B) }])
  const one = signaturePayload(signer.id, AT.toISOString(), [{ file: `a.yaml ${sha(A)}\nb.yaml`, sha256: sha(B) }])
  t.not(one.toString(), two.toString())
  const sneaky = { file: `a.yaml\n${sha(B)} b.yaml`, text: A.text }
  t.equal(verdict([sneaky], signed([A, B])).ok, false)
})

t.test('a checkpoint signature made with the same key is never a policy signature', async (t) => {
  const checkpoint = signCheckpoint({ id: signer.id, privateKey: signer.privateKey, publicKey: signer.publicKey }, { tenantId: 't', seq: 1, hash: 'sha256:00', at: AT.toISOString() })
  const sig = edited(signed([A]), (s) => { s.signature = checkpoint.signature })
  t.match(verdict([A], sig), { ok: false, problems: [/does not verify/] })
  // The payload itself starts with its own domain, which no canonical JSON statement does.
  t.match(signaturePayload(signer.id, AT.toISOString(), []).toString(), /^arbiter policy signature v1\n\{/)
})

t.test('parseSignature returns the signature it was given', async (t) => {
  const s = signPolicy([A], signer.privateKey, signer.publicKey, AT)
  t.same(parseSignature(formatSignature(s)), s)
})

import { generateKeyPairSync } from 'node:crypto'
import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import type { Output } from '../../src/cli/output.js'
import { POLICY_USAGE, policyCommand } from '../../src/cli/policy.js'
import { EXAMPLE_POLICY } from '../fixtures/policies.js'
import { policyDir, tempDir } from '../helpers.js'

function capture (): Output & { lines: string[], errors: string[] } {
  const lines: string[] = []
  const errors: string[] = []
  return { lines, errors, out: (l) => lines.push(l), err: (l) => errors.push(l) }
}

async function run (...args: string[]): Promise<{ code: number, lines: string[], errors: string[] }> {
  const io = capture()
  const code = await policyCommand(args, io)
  return { code, lines: io.lines, errors: io.errors }
}

/** A signing key made by `keygen`, and its public key written where `--trusted-key` reads it. */
async function keygen (t: Parameters<typeof tempDir>[0]): Promise<{ key: string, pub: string, id: string }> {
  const dir = tempDir(t, 'arbiter-signing-')
  const key = path.join(dir, 'signing.key')
  const made = await run('keygen', '--out', key)
  t.equal(made.code, 0, made.errors.join('\n'))
  const pub = path.join(dir, 'trusted.pem')
  writeFileSync(pub, made.lines.join('\n') + '\n')
  const id = /key id (ek_[0-9a-f]{16})/.exec(made.errors[0])?.[1] as string
  return { key, pub, id }
}

t.test('keygen writes a private key only its owner reads, never over another, and prints the public key', async (t) => {
  const { key, id } = await keygen(t)
  t.equal(statSync(key).mode & 0o777, 0o600)
  t.match(readFileSync(key, 'utf8'), /^-----BEGIN PRIVATE KEY-----/)
  const again = await run('keygen', '--out', key)
  t.equal(again.code, 1)
  t.match(again.errors, [/^policy keygen: EEXIST/])
  const pub = await run('public-key', '--key', key)
  t.equal(pub.code, 0)
  t.match(pub.lines, [/^-----BEGIN PUBLIC KEY-----\n.*\n-----END PUBLIC KEY-----$/])
  t.same(pub.errors, [`key id ${id}`])
})

t.test('sign, then verify-sig as the server would; a change after signing fails it', async (t) => {
  const { key, pub, id } = await keygen(t)
  const dir = policyDir(t, { 'main.yaml': EXAMPLE_POLICY, 'main.test.yaml': 'cases: []\n' })
  const signed = await run('sign', dir, '--key', key)
  t.equal(signed.code, 0, signed.errors.join('\n'))
  t.match(signed.lines, [new RegExp(`^signed 1 file\\(s\\) \\(main\\.yaml\\) with key ${id}, snapshot sha256:[0-9a-f]{64}: wrote .*policy\\.sig$`)])
  t.same(readdirSync(dir).sort(), ['main.test.yaml', 'main.yaml', 'policy.sig'], 'nothing left aside')
  t.match(JSON.parse(readFileSync(path.join(dir, 'policy.sig'), 'utf8')), { key_id: id, files: [{ file: 'main.yaml' }] }, 'test suites are not signed')

  const ok = await run('verify-sig', dir, '--trusted-key', pub)
  t.equal(ok.code, 0, ok.errors.join('\n'))
  t.match(ok.lines, [new RegExp(`^ok: 1 file\\(s\\) signed by ${id} at \\d{4}-`)])

  writeFileSync(path.join(dir, 'main.test.yaml'), 'cases: [] # edited\n')
  t.equal((await run('verify-sig', dir, '--trusted-key', pub)).code, 0, 'a suite may change without a new signature')
  writeFileSync(path.join(dir, 'extra.yaml'), 'version: v1\nrules: []\n')
  const added = await run('verify-sig', dir, '--trusted-key', pub)
  t.equal(added.code, 1)
  t.same(added.errors, ['extra.yaml: not covered by policy.sig (added or renamed after signing)', '1 problem(s); a server requiring signatures refuses this policy'])

  const other = await keygen(t)
  const untrusted = await run('verify-sig', dir, '--trusted-key', other.pub)
  t.equal(untrusted.code, 1)
  t.match(untrusted.errors, [new RegExp(`signed by key ${id}, which is not trusted`)])
})

t.test('a single file is signed by FILE.sig beside it', async (t) => {
  const { key, pub } = await keygen(t)
  const file = path.join(policyDir(t, { 'main.yaml': EXAMPLE_POLICY }), 'main.yaml')
  t.equal((await run('sign', file, '--key', key)).code, 0)
  t.match(JSON.parse(readFileSync(`${file}.sig`, 'utf8')), { files: [{ file: 'main.yaml' }] })
  t.equal((await run('verify-sig', file, '--trusted-key', pub)).code, 0)
})

t.test('sign refuses a policy that does not load, and a key that is not private to its owner', async (t) => {
  const { key } = await keygen(t)
  const bad = policyDir(t, { 'main.yaml': 'version: v1\nrules:\n  - id: broken\n    decision: allow\n' })
  const broken = await run('sign', bad, '--key', key)
  t.equal(broken.code, 1)
  t.match(broken.errors, [/^main\.yaml:3: rule broken/, /the policy does not load, so it is not signed$/])
  t.same(readdirSync(bad), ['main.yaml'])

  const dir = policyDir(t, { 'main.yaml': EXAMPLE_POLICY })
  chmodSync(key, 0o640)
  const open = await run('sign', dir, '--key', key)
  t.equal(open.code, 1)
  t.match(open.errors, [/readable by group or others \(mode 640\); chmod 600 it/])

  const rsa = path.join(tempDir(t), 'rsa.key')
  writeFileSync(rsa, generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 })
  t.match((await run('sign', dir, '--key', rsa)).errors, [/must hold an Ed25519 private key/])
  const pub = path.join(tempDir(t), 'pub.key')
  writeFileSync(pub, 'not a key\n', { mode: 0o600 })
  t.match((await run('sign', dir, '--key', pub)).errors, [/holds no private key/])
  t.match((await run('sign', path.join(dir, 'nowhere'), '--key', key.replace('signing', 'none'))).errors, [/^policy sign: ENOENT/])
})

t.test('verify-sig with a trusted key file that holds no public key is misuse', async (t) => {
  const { key } = await keygen(t)
  const dir = policyDir(t, { 'main.yaml': EXAMPLE_POLICY })
  const r = await run('verify-sig', dir, '--trusted-key', key)
  t.equal(r.code, 2)
  t.match(r.errors, [/^policy verify-sig: --trusted-key .*signing\.key: holds a private key/])
})

t.test('misuse is exit 2 with the usage; help is exit 0; the policy usage lists the signing commands', async (t) => {
  for (const args of [['sign', 'x'], ['sign', '--key', 'k'], ['keygen'], ['keygen', '--out', 'a', '--key', 'b'], ['verify-sig', 'x'], ['public-key', 'x', '--key', 'k'], ['sign', 'x', '--nope']]) {
    const r = await run(...args)
    t.equal(r.code, 2, args.join(' '))
    t.match(r.errors.at(-1), /arbiter policy sign PATH --key FILE/)
  }
  const help = await run('sign', '--help')
  t.equal(help.code, 0)
  t.match(help.lines[0], /^usage:\n {2}arbiter policy keygen/)
  t.match(POLICY_USAGE, /arbiter policy verify-sig PATH --trusted-key PEM…/)
})

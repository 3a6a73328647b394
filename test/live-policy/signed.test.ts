/**
 * Signed policies end to end: POLICY_TRUSTED_KEYS set, the service loads only a policy whose
 * policy.sig a trusted key made over exactly its files, at start and at every reload.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { systemClock } from '../../src/clock.js'
import { PolicyHolder } from '../../src/live-policy/holder.js'
import { formatSignature, policyKeyId, signPolicy } from '../../src/live-policy/signature.js'
import { readPolicySources, signaturePath } from '../../src/live-policy/sources.js'
import { migrate } from '../../src/store/migrate.js'
import { getSnapshot } from '../../src/store/snapshots.js'
import { EXAMPLE_POLICY } from '../fixtures/policies.js'
import { captureLogger, policyDir, tempDir, testApp, testDatabase, type TestApp } from '../helpers.js'
import { configMapVolume } from './fixtures/configmap-volume.js'

const ALLOW_ALL = 'version: v1\ndefaults: { decision: allow }\nrules: []\n'
const EXTRA = 'version: v1\nrules:\n  - id: allow-other\n    match: { topics: ["job.other"] }\n    decision: allow\n'

interface Key { privateKey: KeyObject, publicKey: KeyObject, id: string, pem: string }

/** A key pair, its public half in a PEM file as POLICY_TRUSTED_KEYS names it. */
function makeKey (t: Parameters<typeof tempDir>[0]): Key {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const pem = path.join(tempDir(t, 'arbiter-keys-'), 'trusted.pem')
  writeFileSync(pem, publicKey.export({ type: 'spki', format: 'pem' }))
  return { privateKey, publicKey, id: policyKeyId(publicKey), pem }
}

/** Signs the policy at `policyPath` as `arbiter policy sign` does; returns the signature's text. */
async function signAt (policyPath: string, key: Key): Promise<string> {
  const text = formatSignature(signPolicy(await readPolicySources(policyPath), key.privateKey, key.publicKey, new Date()))
  writeFileSync(await signaturePath(policyPath), text)
  return text
}

async function signedApp (t: Parameters<typeof tempDir>[0], policyPath: string, key: Key): Promise<TestApp> {
  return await testApp(t, { policyPath, env: { POLICY_TRUSTED_KEYS: key.pem } })
}

async function current (ctx: TestApp): Promise<{ snapshot_id: string, signed_by: string | null, files: string[], last_reload_error: { problems: string[] } | null }> {
  return (await ctx.app.inject({ url: '/policies/current' })).json()
}

async function decide (ctx: TestApp): Promise<string> {
  return (await ctx.app.inject({ method: 'POST', url: '/check', payload: { job_id: 'j', topic: 'job.other' } })).json().decision
}

/** POST /policies/reload: the refusal's problems, or [] when it loaded. */
async function reload (t: Parameters<typeof tempDir>[0], ctx: TestApp): Promise<string[]> {
  const res = await ctx.app.inject({ method: 'POST', url: '/policies/reload' })
  if (res.statusCode === 200) return []
  t.equal(res.statusCode, 422)
  t.equal(res.json().code, 'ARBITER_ERR_POLICY_INVALID')
  return (await current(ctx)).last_reload_error?.problems ?? []
}

async function waitFor (what: string, fn: () => Promise<boolean>): Promise<void> {
  const until = Date.now() + 10_000
  while (Date.now() < until) {
    if (await fn()) return
    await sleep(25)
  }
  throw new Error(`timed out waiting for ${what}`)
}

t.test('an unsigned policy, or one signed by a key not trusted, is refused at start', async (t) => {
  const key = makeKey(t)
  const dir = policyDir(t, { 'main.yaml': EXAMPLE_POLICY })
  await t.rejects(signedApp(t, dir, key), { name: 'PolicyLoadError', message: /policy\.sig: missing; POLICY_TRUSTED_KEYS is set/ })
  const stranger = makeKey(t)
  await signAt(dir, stranger)
  await t.rejects(signedApp(t, dir, key), { name: 'PolicyLoadError', message: new RegExp(`signed by key ${stranger.id}, which is not trusted`) })
})

t.test('a policy signed by a trusted key serves, and its snapshot records the key', async (t) => {
  const key = makeKey(t)
  const dir = policyDir(t, { 'main.yaml': EXAMPLE_POLICY })
  await signAt(dir, key)
  const ctx = await signedApp(t, dir, key)
  const status = await current(ctx)
  t.equal(status.signed_by, key.id)
  t.equal(status.last_reload_error, null)
  t.equal(await decide(ctx), 'DENY')
  t.match(await getSnapshot(ctx.db, status.snapshot_id), { snapshot_id: status.snapshot_id, signed_by: key.id })
  t.ok(ctx.logLines.some((l) => l.includes('"msg":"policy loaded"') && l.includes(`"signedBy":"${key.id}"`)), 'the load is logged with the key')

  const unsigned = await testApp(t)
  t.equal((await current(unsigned)).signed_by, null, 'without POLICY_TRUSTED_KEYS nothing is signed or required')
})

t.test('a signed policy altered on disk is refused at reload; the signed one stays in force', async (t) => {
  const key = makeKey(t)
  const dir = policyDir(t, { 'main.yaml': EXAMPLE_POLICY })
  await signAt(dir, key)
  const ctx = await signedApp(t, dir, key)
  const before = await current(ctx)
  const main = path.join(dir, 'main.yaml')
  const refusedWith = async (what: string, problems: RegExp[]): Promise<void> => {
    t.match(await reload(t, ctx), problems, what)
    const now = await current(ctx)
    t.equal(now.snapshot_id, before.snapshot_id, `${what}: the signed policy stays in force`)
    t.equal(now.signed_by, key.id)
    t.equal(await decide(ctx), 'DENY', `${what}: still deciding with it`)
  }

  writeFileSync(main, ALLOW_ALL)
  await refusedWith('a file changed', [/^main\.yaml: changed after signing$/])
  t.ok(ctx.logLines.some((l) => l.includes('policy reload failed') && l.includes('main.yaml: changed after signing')), 'the reason is logged')
  writeFileSync(main, EXAMPLE_POLICY)

  writeFileSync(path.join(dir, 'extra.yaml'), EXTRA)
  await refusedWith('a file added', [/^extra\.yaml: not covered by policy\.sig \(added or renamed after signing\)$/])
  unlinkSync(path.join(dir, 'extra.yaml'))

  renameSync(main, path.join(dir, 'zz.yaml'))
  await refusedWith('a file renamed', [/^zz\.yaml: not covered/, /^main\.yaml: signed, but missing/])
  renameSync(path.join(dir, 'zz.yaml'), main)

  const sig = path.join(dir, 'policy.sig')
  const good = readFileSync(sig, 'utf8')
  // Signed by the same trusted key, over other text for the same file name.
  const other = policyDir(t, { 'main.yaml': ALLOW_ALL })
  writeFileSync(sig, await signAt(other, key))
  await refusedWith('a signature from another signed directory', [/^main\.yaml: changed after signing$/])

  writeFileSync(sig, good.slice(0, 100))
  await refusedWith('a truncated signature', [/^policy\.sig: not a policy signature/])
  rmSync(sig)
  await refusedWith('a removed signature', [/^policy\.sig: missing/])
  symlinkSync(path.join(other, 'policy.sig'), sig)
  await refusedWith('a signature linked from outside', [/^policy\.sig: is a symlink that resolves to .*, outside the policy directory/])
  unlinkSync(sig)
  mkdirSync(sig)
  await refusedWith('a directory for a signature', [/^policy\.sig: is not a file$/])
  rmSync(sig, { recursive: true })
  writeFileSync(sig, Buffer.alloc(2 * 1024 * 1024, 0x20))
  await refusedWith('a huge signature', [/^policy\.sig: is 2097152 bytes, larger than any policy signature; refused$/])

  // The owner of the key changes the policy: it loads, signed.
  writeFileSync(main, ALLOW_ALL)
  await signAt(dir, key)
  t.same(await reload(t, ctx), [])
  const after = await current(ctx)
  t.not(after.snapshot_id, before.snapshot_id)
  t.equal(after.signed_by, key.id)
  t.equal(after.last_reload_error, null)
  t.equal(await decide(ctx), 'ALLOW')
})

t.test('an older signed policy put back with its old signature is refused, here and after a restart', async (t) => {
  const key = makeKey(t)
  const dir = policyDir(t, { 'main.yaml': EXAMPLE_POLICY })
  const oldSig = await signAt(dir, key)
  const ctx = await signedApp(t, dir, key)
  const first = await current(ctx)
  const main = path.join(dir, 'main.yaml')
  // The owner signs a tighter policy a moment later; someone who can write the directory puts the old one back.
  await sleep(5)
  writeFileSync(main, EXAMPLE_POLICY.replace('decision: allow', 'decision: deny'))
  await signAt(dir, key)
  t.same(await reload(t, ctx), [])
  const second = await current(ctx)
  t.not(second.snapshot_id, first.snapshot_id)
  writeFileSync(main, EXAMPLE_POLICY)
  writeFileSync(path.join(dir, 'policy.sig'), oldSig)
  t.match(await reload(t, ctx), [/^policy\.sig: signed at .*, before the newest signature a policy was accepted under .*; an older signed policy comes back only when signed anew/])
  t.equal((await current(ctx)).snapshot_id, second.snapshot_id, 'the newer signed policy stays in force')
  // Another instance on the same database, started on the rolled-back files, refuses them too.
  await t.rejects(testApp(t, { policyPath: dir, testDb: ctx.testDb, env: { POLICY_TRUSTED_KEYS: key.pem } }), /signed at .*before the newest signature/)
  // Rolling back on purpose: the old files, signed anew.
  await signAt(dir, key)
  t.same(await reload(t, ctx), [])
  t.equal((await current(ctx)).snapshot_id, first.snapshot_id, 'the old policy, signed again, loads')
})

t.test('a single-file policy is signed by FILE.sig beside it', async (t) => {
  const key = makeKey(t)
  const file = path.join(policyDir(t, { 'main.yaml': EXAMPLE_POLICY, 'other.yaml': ALLOW_ALL }), 'main.yaml')
  await signAt(file, key)
  t.equal(await signaturePath(file), `${file}.sig`)
  const ctx = await signedApp(t, file, key)
  t.equal((await current(ctx)).signed_by, key.id)
  writeFileSync(file, ALLOW_ALL)
  t.match(await reload(t, ctx), [/^main\.yaml: changed after signing$/])
  // The signature of another file in the same directory does not cover this one.
  writeFileSync(`${file}.sig`, await signAt(path.join(path.dirname(file), 'other.yaml'), key))
  t.match(await reload(t, ctx), [/^main\.yaml: not covered by main\.yaml\.sig/, /^other\.yaml: signed, but missing/])
  t.equal(await decide(ctx), 'DENY')
})

t.test('a watched policy reloads when its signature arrives after its files', async (t) => {
  const key = makeKey(t)
  const dir = policyDir(t, { 'main.yaml': EXAMPLE_POLICY })
  await signAt(dir, key)
  const ctx = await signedApp(t, dir, key)
  await ctx.app.policies.watch(20)
  const before = await current(ctx)
  writeFileSync(path.join(dir, 'main.yaml'), ALLOW_ALL)
  await waitFor('the unsigned change to be refused', async () => (await current(ctx)).last_reload_error !== null)
  t.equal((await current(ctx)).snapshot_id, before.snapshot_id)
  await signAt(dir, key)
  await waitFor('the signed change to be served', async () => (await current(ctx)).snapshot_id !== before.snapshot_id)
  t.equal(await decide(ctx), 'ALLOW')
})

t.test('a ConfigMap volume carries policy.sig as one more key', async (t) => {
  const key = makeKey(t)
  const staging = policyDir(t, { 'main.yaml': EXAMPLE_POLICY })
  const dir = tempDir(t, 'arbiter-configmap-')
  const volume = configMapVolume(dir, { 'main.yaml': EXAMPLE_POLICY, 'policy.sig': await signAt(staging, key) })
  const ctx = await signedApp(t, dir, key)
  await ctx.app.policies.watch(20)
  t.equal((await current(ctx)).signed_by, key.id)
  volume.update({ 'main.yaml': ALLOW_ALL, 'policy.sig': readFileSync(path.join(staging, 'policy.sig'), 'utf8') })
  await waitFor('the unsigned update to be refused', async () => (await current(ctx)).last_reload_error !== null)
  t.equal(await decide(ctx), 'DENY')
})

t.test('POLICY_TRUSTED_KEYS that cannot be trusted stops the start', async (t) => {
  const dir = policyDir(t, { 'main.yaml': EXAMPLE_POLICY })
  const keys = tempDir(t, 'arbiter-keys-')
  const { privateKey } = generateKeyPairSync('ed25519')
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey
  const files: Record<string, string> = {
    'private.pem': privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    'rsa.pem': rsa.export({ type: 'spki', format: 'pem' }).toString(),
    'empty.pem': '',
    'cert.pem': '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
    'broken.pem': '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n'
  }
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(keys, name), text)
  const env = { POLICY_TRUSTED_KEYS: [...Object.keys(files), 'missing.pem'].map((f) => path.join(keys, f)).join(',') }
  await t.rejects(testApp(t, { policyPath: dir, env }), {
    name: 'ConfigError',
    problems: [/private\.pem: holds a private key; give only the public key/, /rsa\.pem: holds a rsa key; policy signing keys are Ed25519/,
      /empty\.pem: holds no PEM PUBLIC KEY block/, /cert\.pem: holds a PEM CERTIFICATE, not a PUBLIC KEY/, /broken\.pem: a PUBLIC KEY block does not parse/,
      /^POLICY_TRUSTED_KEYS: .*missing\.pem: ENOENT/]
  })
})

t.test('one file may hold several trusted keys; any of them may sign', async (t) => {
  const [a, b] = [makeKey(t), makeKey(t)]
  writeFileSync(a.pem, readFileSync(a.pem, 'utf8') + readFileSync(b.pem, 'utf8'))
  const dir = policyDir(t, { 'main.yaml': EXAMPLE_POLICY })
  await signAt(dir, b)
  t.equal((await current(await signedApp(t, dir, a))).signed_by, b.id)
})

t.test('a snapshot first stored unsigned records its signer once signatures are required', async (t) => {
  const key = makeKey(t)
  const { db } = await testDatabase(t)
  await migrate(db)
  const dir = policyDir(t, { 'main.yaml': EXAMPLE_POLICY })
  const log = captureLogger().logger
  const open = new PolicyHolder(dir, db, systemClock, log)
  await open.load()
  const id = open.current.snapshotId
  t.equal((await getSnapshot(db, id))?.signed_by, null)
  await signAt(dir, key)
  const strict = new PolicyHolder(dir, db, systemClock, log, new Map([[key.id, key.publicKey]]))
  await strict.load()
  t.equal(strict.current.snapshotId, id, 'the same snapshot')
  t.equal((await getSnapshot(db, id))?.signed_by, key.id, 'now recorded as signed')
  await open.reload()
  t.equal((await getSnapshot(db, id))?.signed_by, key.id, 'an unsigned load does not erase it')
})

/**
 * `arbiter policy keygen|public-key|sign|verify-sig`: the signing side of signed policies. The
 * private key stays with whoever approves policy changes; servers get only the public key.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { ConfigError } from '../config.js'
import { compilePolicy, formatProblem } from '../policy/index.js'
import { formatSignature, policyKeyId, signPolicy, verifyPolicySignature } from '../live-policy/signature.js'
import { PolicySourceError, readPolicySignature, readPolicySources, signaturePath } from '../live-policy/sources.js'
import { loadTrustedKeys } from '../live-policy/trusted-keys.js'
import type { Output } from './output.js'

export const SIGN_COMMANDS: readonly string[] = ['keygen', 'public-key', 'sign', 'verify-sig']

export const SIGN_USAGE = `  arbiter policy keygen --out FILE   make an Ed25519 policy signing key: the private key goes to FILE
                                     (mode 0600, never overwritten), its public key (PEM) to stdout
  arbiter policy public-key --key FILE
                                     print the public key (PEM) of a signing key, its key id on stderr
  arbiter policy sign PATH --key FILE
                                     sign the policy at PATH: writes PATH/policy.sig (a directory) or
                                     PATH.sig (one file); a policy that does not load is not signed
  arbiter policy verify-sig PATH --trusted-key PEM…
                                     check PATH's signature as a server with POLICY_TRUSTED_KEYS would`

/** `args` start with the subcommand; the exit code: 0 done, 1 refused or failed, 2 misused. */
export async function policySignCommand (args: string[], io: Output): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: { out: { type: 'string' }, key: { type: 'string' }, 'trusted-key': { type: 'string', multiple: true }, help: { type: 'boolean', short: 'h' } } })
  } catch (err) {
    io.err(`policy: ${(err as Error).message}`)
    io.err(`usage:\n${SIGN_USAGE}`)
    return 2
  }
  const { values: { out, key, 'trusted-key': trusted, help }, positionals: [sub, target, ...rest] } = parsed
  if (help === true) {
    io.out(`usage:\n${SIGN_USAGE}`)
    return 0
  }
  const given = [out, key, trusted].filter((v) => v !== undefined).length
  try {
    if (sub === 'keygen' && target === undefined && out !== undefined && given === 1) return await keygen(out, io)
    if (sub === 'public-key' && target === undefined && key !== undefined && given === 1) return await printPublicKey(key, io)
    if (sub === 'sign' && target !== undefined && rest.length === 0 && key !== undefined && given === 1) return await sign(target, key, io)
    if (sub === 'verify-sig' && target !== undefined && rest.length === 0 && trusted !== undefined && given === 1) return await verifySig(target, trusted, io)
  } catch (err) {
    if (!(err instanceof PolicySourceError || err instanceof SigningKeyError || isFileError(err))) throw err
    io.err(`policy ${sub}: ${err.message}`)
    return 1
  }
  io.err(`usage:\n${SIGN_USAGE}`)
  return 2
}

async function keygen (out: string, io: Output): Promise<number> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  // `wx`: an existing key is never overwritten, and the file is never readable by others.
  await writeFile(out, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' })
  io.out(publicKey.export({ type: 'spki', format: 'pem' }).toString().trimEnd())
  io.err(`key id ${policyKeyId(publicKey)}; private key written to ${out} (mode 0600): keep it off the servers, which need only the public key above`)
  return 0
}

async function printPublicKey (keyFile: string, io: Output): Promise<number> {
  const { publicKey } = await readSigningKey(keyFile)
  io.out(publicKey.export({ type: 'spki', format: 'pem' }).toString().trimEnd())
  io.err(`key id ${policyKeyId(publicKey)}`)
  return 0
}

async function sign (policyPath: string, keyFile: string, io: Output): Promise<number> {
  const { privateKey, publicKey } = await readSigningKey(keyFile)
  const sources = await readPolicySources(policyPath)
  const compiled = compilePolicy(sources)
  if (!compiled.ok) {
    for (const p of compiled.problems) io.err(formatProblem(p))
    io.err(`${compiled.problems.length} problem(s); the policy does not load, so it is not signed`)
    return 1
  }
  const signature = signPolicy(sources, privateKey, publicKey, new Date())
  const file = await signaturePath(policyPath)
  // Written aside (a dot-name the watcher ignores) and renamed: a server never reads half a signature.
  const aside = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`)
  try {
    await writeFile(aside, formatSignature(signature), { mode: 0o644 })
    await rename(aside, file)
  } finally {
    await rm(aside, { force: true })
  }
  io.out(`signed ${sources.length} file(s) (${sources.map((s) => s.file).join(', ')}) with key ${signature.key_id}, snapshot ${compiled.policy.snapshotId}: wrote ${file}`)
  return 0
}

async function verifySig (policyPath: string, keyFiles: string[], io: Output): Promise<number> {
  let trusted
  try {
    trusted = await loadTrustedKeys(keyFiles.map((f) => path.resolve(f)))
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    for (const p of err.problems) io.err(`policy verify-sig: ${p.replace(/^POLICY_TRUSTED_KEYS: /, '--trusted-key ')}`)
    return 2
  }
  const sources = await readPolicySources(policyPath)
  const sig = await readPolicySignature(policyPath)
  const verdict = verifyPolicySignature(sources, sig.text, trusted as NonNullable<typeof trusted>, sig.name)
  if (!verdict.ok) {
    for (const p of verdict.problems) io.err(p)
    io.err(`${verdict.problems.length} problem(s); a server requiring signatures refuses this policy`)
    return 1
  }
  io.out(`ok: ${sources.length} file(s) signed by ${verdict.keyId} at ${verdict.signedAt}`)
  return 0
}

class SigningKeyError extends Error {}

/** An Ed25519 private key from a PEM file readable by its owner alone, as the checkpoint key is. */
async function readSigningKey (file: string): Promise<{ privateKey: KeyObject, publicKey: KeyObject }> {
  const info = await stat(file)
  if ((info.mode & 0o077) !== 0) {
    throw new SigningKeyError(`signing key file ${file} is readable by group or others (mode ${(info.mode & 0o777).toString(8)}); chmod 600 it`)
  }
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey(await readFile(file, 'utf8'))
  } catch (err) {
    throw new SigningKeyError(`signing key file ${file} holds no private key (${(err as Error).message})`)
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new SigningKeyError(`signing key file ${file} must hold an Ed25519 private key (\`arbiter policy keygen\` makes one)`)
  return { privateKey, publicKey: createPublicKey(privateKey) }
}

/** A file that is missing, already there, or not to be read: the user's to fix, not a crash. */
function isFileError (err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && ['ENOENT', 'EEXIST', 'EACCES', 'EISDIR', 'ENOTDIR', 'EPERM'].includes((err as NodeJS.ErrnoException).code ?? '')
}

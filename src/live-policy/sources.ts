import { lstat, readdir, readFile, readlink, realpath, stat } from 'node:fs/promises'
import path from 'node:path'
import type { PolicySource } from '../policy/types.js'
import { SIGNATURE_FILE } from './signature.js'

/** Test suites live beside policies but are not part of them. */
export function isPolicyFile (name: string): boolean {
  return /\.ya?ml$/.test(name) && !/\.test\.ya?ml$/.test(name)
}

/**
 * A Kubernetes ConfigMap volume is updated by writing a new `..<timestamp>` directory and renaming
 * a `..data_tmp` symlink over `..data`; the policy files are symlinks through `..data`, so their
 * own names see no event when their content changes.
 */
export function isConfigMapSwap (name: string): boolean {
  return name.startsWith('..')
}

/**
 * Whether a change to `name` in the watched directory can change the policy (`only`: a
 * single-file policy). Its signature counts: a policy refused for want of one loads once it comes.
 */
export function touchesPolicy (name: string, only?: string): boolean {
  if (isConfigMapSwap(name)) return true
  if (only !== undefined) return name === only || name === `${only}.sig`
  return name === SIGNATURE_FILE || (!name.startsWith('.') && isPolicyFile(name))
}

/** Policy files that cannot be read safely: every one is named, none is skipped silently. */
export class PolicySourceError extends Error {
  constructor (readonly problems: string[]) {
    super(`policy files refused:\n  ${problems.join('\n  ')}`)
    this.name = 'PolicySourceError'
  }
}

/**
 * Reads a policy: one file, or every `*.yaml` / `*.yml` directly in a directory, in name order.
 * Dot-entries are skipped (a ConfigMap's `..data`, editors' `.#name.yaml` locks). A symlink is
 * followed only when it resolves, through any chain, to a file inside the directory; one that
 * leads out of it or to nothing is refused, so a policy directory cannot be made to read
 * elsewhere. File names are given relative to the directory, as listed, so snapshots depend
 * neither on where Arbiter runs nor on a ConfigMap's timestamped directory.
 */
export async function readPolicySources (policyPath: string): Promise<PolicySource[]> {
  const info = await stat(policyPath)
  if (!info.isDirectory()) {
    return [{ file: path.basename(policyPath), text: await readFile(policyPath, 'utf8') }]
  }
  const root = await realpath(policyPath)
  const entries = (await readdir(root, { withFileTypes: true }))
    .filter((d) => !d.name.startsWith('.') && isPolicyFile(d.name) && (d.isFile() || d.isSymbolicLink()))
    .sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  const problems: string[] = []
  const sources: PolicySource[] = []
  for (const d of entries) {
    const target = d.isFile() ? path.join(root, d.name) : await resolveInside(root, d.name, problems)
    // A link to a directory is no policy file, as a directory named `x.yaml` is none.
    if (target === undefined || !(await stat(target)).isFile()) continue
    // Read from the checked path, not through the link, which may be re-pointed in between.
    sources.push({ file: d.name, text: await readFile(target, 'utf8') })
  }
  if (problems.length > 0) throw new PolicySourceError(problems)
  return sources
}

/** The real path of the link `name` in `root` when it is inside `root`; otherwise a problem. */
async function resolveInside (root: string, name: string, problems: string[]): Promise<string | undefined> {
  const link = path.join(root, name)
  let real: string
  try {
    real = await realpath(link)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code !== 'ENOENT' && code !== 'ELOOP') throw err
    const why = code === 'ELOOP' ? 'is a symlink loop' : `is a symlink to ${await readlink(link)}, which does not exist`
    problems.push(`${name}: ${why}`)
    return undefined
  }
  const rel = path.relative(root, real)
  if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
    problems.push(`${name}: is a symlink that resolves to ${real}, outside the policy directory ${root}; refused`)
    return undefined
  }
  return real
}

/** Larger than any signature of a policy directory; a bigger file is refused unread. */
const MAX_SIGNATURE_BYTES = 1024 * 1024

/** Where the signature of the policy at `policyPath` lives: `policy.sig` in a directory, `<file>.sig` beside one file. */
export async function signaturePath (policyPath: string): Promise<string> {
  return (await stat(policyPath)).isDirectory() ? path.join(policyPath, SIGNATURE_FILE) : `${policyPath}.sig`
}

/**
 * The detached signature of the policy at `policyPath`: its file name (for messages) and its
 * text, or no text when there is none. In a directory, a symlink is held to the policy files' rule.
 */
export async function readPolicySignature (policyPath: string): Promise<{ name: string, text: string | undefined }> {
  const file = await signaturePath(policyPath)
  const name = path.basename(file)
  try {
    let target = file
    if (name === SIGNATURE_FILE && (await lstat(file)).isSymbolicLink()) {
      const problems: string[] = []
      const inside = await resolveInside(await realpath(path.dirname(file)), name, problems)
      if (inside === undefined) throw new PolicySourceError(problems)
      target = inside
    }
    const info = await stat(target)
    if (!info.isFile()) throw new PolicySourceError([`${name}: is not a file`])
    if (info.size > MAX_SIGNATURE_BYTES) throw new PolicySourceError([`${name}: is ${info.size} bytes, larger than any policy signature; refused`])
    return { name, text: await readFile(target, 'utf8') }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { name, text: undefined }
    throw err
  }
}

import { readdir, readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import type { PolicySource } from '../policy/types.js'

/** Test suites live beside policies but are not part of them. */
export function isPolicyFile (name: string): boolean {
  return /\.ya?ml$/.test(name) && !/\.test\.ya?ml$/.test(name)
}

/**
 * Reads a policy: one file, or every `*.yaml` / `*.yml` directly in a directory, in name order.
 * File names are given relative to the directory so snapshots do not depend on where Arbiter runs.
 */
export async function readPolicySources (policyPath: string): Promise<PolicySource[]> {
  const info = await stat(policyPath)
  if (!info.isDirectory()) {
    return [{ file: path.basename(policyPath), text: await readFile(policyPath, 'utf8') }]
  }
  const names = (await readdir(policyPath, { withFileTypes: true }))
    .filter((d) => d.isFile() && isPolicyFile(d.name))
    .map((d) => d.name)
    .sort()
  return await Promise.all(names.map(async (file) => ({ file, text: await readFile(path.join(policyPath, file), 'utf8') })))
}

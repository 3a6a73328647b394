import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** The package root, found by walking up from this module: the same from `src/` and `dist/src/`. */
function findPackageRoot (): string {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir)
    if (parent === dir) throw new Error('arbiter: cannot find the package root')
    dir = parent
  }
  return dir
}

export const PACKAGE_ROOT = findPackageRoot()
export const MIGRATIONS_DIR = path.join(PACKAGE_ROOT, 'migrations')

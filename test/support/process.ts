/** `arbiter serve` as a child process, for the tests that need a real one. */
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { PACKAGE_ROOT } from '../../src/paths.js'

const MAIN = path.join(PACKAGE_ROOT, 'src/cli/main.ts')

/**
 * Node's flags for a child process that runs the TypeScript sources: through tsx (esbuild),
 * which starts one in about a second where the test's own loader (ts-node) takes several.
 */
export const TYPESCRIPT_ARGS: readonly string[] = ['--import=tsx', '--enable-source-maps']

/**
 * The environment of such a child: `env`, and no coverage. The test runner hooks every child
 * process to measure it too, but tsx's source maps carry no sources unless coverage was on from
 * the start, and a child measured through them would report wrong lines.
 */
export function childEnv (env: Record<string, string | undefined>): Record<string, string | undefined> {
  return { ...env, _TAPJS_PROCESSINFO_COVERAGE_: '0' }
}

export function startServe (env: Record<string, string>): { child: ChildProcess, output: () => string, exited: Promise<number | null> } {
  const child = spawn(process.execPath, [...TYPESCRIPT_ARGS, MAIN, 'serve'], {
    env: childEnv({ PATH: process.env.PATH, PORT: '0', LOG_LEVEL: 'info', ...env }),
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout?.on('data', (d) => { output += String(d) })
  child.stderr?.on('data', (d) => { output += String(d) })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { child, output: () => output, exited }
}

export async function until<T> (what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 30000): Promise<T> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    const v = await fn()
    if (v !== undefined) return v
    await sleep(50)
  }
  throw new Error(`timed out waiting for ${what}`)
}

import t from 'tap'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { PACKAGE_ROOT } from '../../src/paths.js'
import { childEnv, TYPESCRIPT_ARGS } from '../support/process.js'

const main = path.join(PACKAGE_ROOT, 'src/cli/main.ts')

async function arbiter (...args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [...TYPESCRIPT_ARGS, main, ...args], { env: childEnv({ PATH: process.env.PATH }) })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number, stdout: string, stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

t.test('--version prints the package version; help prints the usage and exits 0', async (t) => {
  const { version } = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }
  t.same(await arbiter('--version'), { code: 0, stdout: `${version}\n`, stderr: '' })

  const help = await arbiter('help')
  t.equal(help.code, 0)
  t.match(help.stdout, /^usage:\n {2}arbiter serve/)
  t.match(help.stdout, /arbiter policy test PATH \[SUITE…\] \[--format junit\|json\] \[--out FILE\]/)

  const policy = await arbiter('help', 'policy')
  t.equal(policy.code, 0)
  t.match(policy.stdout, /^usage:\n {2}arbiter policy lint PATH .*\n(.*\n)* {2}arbiter policy test PATH/)
  t.notMatch(policy.stdout, /arbiter serve/)

  const wrong = await arbiter('help', 'nothing')
  t.equal(wrong.code, 2, 'help on an unknown topic is misuse')
  t.match(wrong.stderr, /^usage:/)
})

t.test('policy commands reach the policy module with their own options', async (t) => {
  const run = await arbiter('policy', 'test', path.join(PACKAGE_ROOT, 'policies'), '--format', 'json')
  t.equal(run.code, 0, run.stderr)
  t.match(JSON.parse(run.stdout), { failed: 0, suites: [{ file: 'base.test.yaml' }, { file: 'guards.test.yaml' }] })
  t.match(run.stderr, /policy cases: \d+ passed, 0 failed/)
})

/**
 * `arbiter keys`: key management on the database directly, for bootstrap and recovery.
 */
import t from 'tap'
import { keysCommand } from '../../src/cli/keys.js'
import { dataDir, isolatedDatabaseUrl } from '../helpers.js'

function io (): { out: string[], err: string[], io: { out: (l: string) => void, err: (l: string) => void } } {
  const out: string[] = []
  const err: string[] = []
  return { out, err, io: { out: (l) => out.push(l), err: (l) => err.push(l) } }
}

t.test('create, list and revoke keys on the database', async (t) => {
  const url = await isolatedDatabaseUrl(t)
  const env = { DATA_DIR: await dataDir(t), LOG_LEVEL: 'silent', ...(url === undefined ? {} : { DATABASE_URL: url }) }

  const created = io()
  t.equal(await keysCommand(['create', '--principal', 'ci', '--role', 'scheduler,auditor', '--tenant', 'acme', '--tenant', 'beta', '--agent', 'agent:ci-*'], created.io, env), 0)
  t.equal(created.out.length, 1, 'stdout holds the token alone, for scripts')
  t.match(created.out[0], /^arb_[A-Za-z0-9_-]{43}$/)
  t.match(created.err.join('\n'), /created service key key_[0-9a-f]{16} for ci; the token below is shown this once/)
  const keyId = /key_[0-9a-f]{16}/.exec(created.err.join('\n'))?.[0] as string

  const listed = io()
  t.equal(await keysCommand(['list'], listed.io, env), 0)
  t.match(listed.out.join('\n'), new RegExp(`${keyId}  ci  kind=service  roles=scheduler,auditor  tenants=acme,beta  agents=agent:ci-\\*  created .* by cli  active`))
  t.notOk(listed.out.join('\n').includes(created.out[0].slice(4)), 'a listing never shows a token')

  const revoked = io()
  t.equal(await keysCommand(['revoke', keyId], revoked.io, env), 0)
  t.match(revoked.out[0], /revoked .* by cli/)
  const active = io()
  await keysCommand(['list'], active.io, env)
  t.notOk(active.out.join('\n').includes(keyId), 'a revoked key is not active')
  const all = io()
  await keysCommand(['list', '--all'], all.io, env)
  t.ok(all.out.join('\n').includes(keyId), '--all shows it')

  const refused = io()
  t.equal(await keysCommand(['create', '--principal', 'x', '--role', 'root', '--tenant', 'acme'], refused.io, env), 1)
  t.match(refused.err.join('\n'), /unknown role root/)
  const reviewer = io()
  t.equal(await keysCommand(['create', '--principal', 'dana', '--role', 'reviewer', '--tenant', '*'], reviewer.io, env), 1, 'a reviewer key is a person\'s')
  t.match(reviewer.err.join('\n'), /service key cannot hold the role reviewer/)
  const person = io()
  t.equal(await keysCommand(['create', '--principal', 'dana', '--role', 'reviewer', '--tenant', '*', '--kind', 'person'], person.io, env), 0)
  t.match(person.err.join('\n'), /created person key key_[0-9a-f]{16} for dana/)
  const robot = io()
  t.equal(await keysCommand(['create', '--principal', 'x', '--role', 'scheduler', '--tenant', '*', '--kind', 'robot'], robot.io, env), 1)
  t.match(robot.err.join('\n'), /unknown kind robot/)
  const missing = io()
  t.equal(await keysCommand(['revoke', `key_${'0'.repeat(16)}`], missing.io, env), 1)
  t.match(missing.err.join('\n'), /no key key_0{16}/)
})

t.test('misuse prints the usage and exits 2', async (t) => {
  for (const args of [[], ['create'], ['create', '--principal', 'x', 'extra'], ['revoke'], ['list', 'x'], ['rotate'], ['create', '--colour', 'red']]) {
    const out = io()
    t.equal(await keysCommand(args, out.io, {}), 2, args.join(' ') || '(nothing)')
    t.match(out.err.join('\n'), /usage:\n {2}arbiter keys create/)
  }
})

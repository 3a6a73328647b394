import t from 'tap'
import { FailureLimiter } from '../../src/auth/failure-limiter.js'
import { hasRole, mayGrant, speaksFor, type Principal } from '../../src/auth/principal.js'
import { compileGlob, globMatches, matchesLinear } from '../../src/policy/glob.js'
import { bearerToken, generateToken, hashesMatch, identifyToken, isTokenShaped } from '../../src/auth/tokens.js'

t.test('tokens: 256 random bits, found by a hash prefix, compared whole', async (t) => {
  const a = generateToken()
  const b = generateToken()
  t.match(a.token, /^arb_[A-Za-z0-9_-]{43}$/)
  t.equal(Buffer.from(a.token.slice(4), 'base64url').length, 32, '32 random bytes')
  t.not(a.token, b.token)
  t.same(identifyToken(a.token), { keyId: a.keyId, hash: a.hash }, 'the identity follows from the token alone')
  t.match(a.keyId, /^key_[0-9a-f]{16}$/)
  t.equal(a.hash.slice(7, 23), a.keyId.slice(4), 'the key id is a prefix of the hash')
  t.notOk(a.hash.includes(a.token.slice(4)), 'the hash does not contain the token')
  t.ok(hashesMatch(a.hash, a.hash))
  t.notOk(hashesMatch(a.hash, b.hash))
  t.notOk(hashesMatch(a.hash, a.hash.slice(0, -1)), 'a different length is no match, and no throw')
})

t.test('the bearer header and token shape', async (t) => {
  t.equal(bearerToken('Bearer abc'), 'abc')
  t.equal(bearerToken('bearer   abc '), 'abc', 'the scheme is case-insensitive')
  for (const h of [undefined, '', 'Bearer', 'Bearer ', 'Basic abc', 'Bearer a b', 'Bearerabc']) t.equal(bearerToken(h), undefined, JSON.stringify(h))
  t.ok(isTokenShaped('x'.repeat(43)))
  t.notOk(isTokenShaped('x'.repeat(42)), 'shorter than 256 bits of base64url')
  t.notOk(isTokenShaped('x'.repeat(513)))
  t.notOk(isTokenShaped(`${'x'.repeat(43)}é`), 'printable ASCII only')
})

const principal = (p: Partial<Principal>): Principal => ({ keyId: 'key_0', principalId: 'p', roles: ['scheduler'], tenants: ['acme'], agents: ['**'], kind: 'service', ...p })

t.test('roles, agent globs and what a key may grant', async (t) => {
  t.ok(hasRole(principal({ roles: ['admin'] }), ['auditor']), 'admin holds every role')
  t.notOk(hasRole(principal({ roles: ['scheduler'] }), ['auditor']))
  t.ok(hasRole(principal({ roles: ['reviewer', 'auditor'] }), ['auditor']))
  const bot = principal({ agents: ['agent:deploy-*', 'svc.*.runner'] })
  t.ok(speaksFor(bot, 'agent:deploy-7'))
  t.ok(speaksFor(bot, 'svc.ci.runner'))
  t.notOk(speaksFor(bot, 'svc.ci.sub.runner'), '* stops at a dot')
  t.notOk(speaksFor(bot, 'agent:other'))
  t.ok(speaksFor(principal({}), 'anything.at.all'), '** speaks for anyone')
  const cases: Array<[string, string, boolean]> = [
    ['agent:a', 'agent:a', true], ['agent:a', 'agent:ab', false], ['agent:*', 'agent:', true],
    ['a.*.c', 'a.b.c', true], ['a.*.c', 'a.b.x.c', false], ['a.**.c', 'a.b.x.c', true], ['a.**', 'a.', true],
    ['**', '', true], ['*', 'a.b', false], ['*-*', 'x-y-z', true], ['a*b*c', 'abc', true], ['a*b*c', 'acb', false]
  ]
  for (const [glob, value, expected] of cases) {
    t.equal(matchesLinear(glob, value), expected, `${glob} ~ ${value}`)
    t.equal(matchesLinear(glob, value), compileGlob(glob).regex.test(value), `${glob} ~ ${value}: as the regex matches`)
  }
  // A backtracking matcher takes seconds here (n^4); this one is linear in the value.
  const started = process.hrtime.bigint()
  t.notOk(speaksFor(principal({ agents: ['agent:*-*-*-*-*'] }), `agent:${'-'.repeat(250)}.`), 'no match, found without backtracking')
  t.notOk(globMatches(compileGlob('job.*-*-*-*-*'), `job.${'-'.repeat(250)}.x`), 'policy globs with many wildcards too')
  t.ok(compileGlob('job.*-*-*').linear && !compileGlob('job.**.x.*').linear, 'more than two wildcards are matched linearly')
  t.ok(Number(process.hrtime.bigint() - started) < 1e9, 'and not by searching every split')
  const scoped = principal({ roles: ['admin'], tenants: ['acme', 'beta'], agents: ['agent:a'] })
  t.ok(mayGrant(scoped, { tenants: ['acme'], agents: ['agent:a'] }))
  t.notOk(mayGrant(scoped, { tenants: ['acme', 'gamma'], agents: ['agent:a'] }))
  t.notOk(mayGrant(scoped, { tenants: ['*'], agents: ['agent:a'] }))
  t.notOk(mayGrant(scoped, { tenants: ['acme'], agents: ['**'] }))
  t.ok(mayGrant(principal({ tenants: ['*'] }), { tenants: ['*'], agents: ['**'] }))
})

t.test('the failure limiter: per address, per window, with bounded memory', async (t) => {
  let now = 0
  const limiter = new FailureLimiter(2, 1000, () => now)
  t.equal(limiter.blockedFor('a'), 0)
  limiter.recordFailure('a')
  t.equal(limiter.blockedFor('a'), 0)
  limiter.recordFailure('a')
  now = 400
  t.equal(limiter.blockedFor('a'), 600, 'blocked until the window ends')
  t.equal(limiter.blockedFor('b'), 0, 'other addresses are not')
  now = 1000
  t.equal(limiter.blockedFor('a'), 0, 'a new window starts clean')
  for (let i = 0; i < 10_050; i++) limiter.recordFailure(`10.0.${i >> 8}.${i & 255}`)
  t.ok(limiter.tracked <= 10_000, `at most 10,000 addresses remembered (${limiter.tracked})`)
})

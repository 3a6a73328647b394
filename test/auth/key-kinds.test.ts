/**
 * People and services: a key is a person's or a service's, and only a person's key votes on
 * approvals or makes grants, whatever its roles. The system says who may approve, never the key
 * that would approve: an agent's key cannot approve what agents propose.
 */
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { ensureAdminKey } from '../../src/auth/bootstrap.js'
import { createKey, OPERATOR } from '../../src/auth/keys.js'
import { generateToken, identifyToken } from '../../src/auth/tokens.js'
import { MIGRATIONS_DIR } from '../../src/paths.js'
import type { Database } from '../../src/store/db.js'
import { getApiKey } from '../../src/store/api-keys.js'
import { migrate } from '../../src/store/migrate.js'
import { approvalApp, prodWrite, START } from '../fixtures/approvals.js'
import { tempDir, testDatabase } from '../helpers.js'

const grantBody = { session_id: 's-1', match: { topics: ['job.write.*'], risk_tags: ['prod'] }, ttl_sec: 600, max_uses: 1, note: 'n' }

t.test('a key is a service\'s unless made a person\'s; a service key cannot be a reviewer', async (t) => {
  const ctx = await approvalApp(t)
  const post = async (payload: Record<string, unknown>): Promise<{ statusCode: number, json: () => any }> =>
    await ctx.app.inject({ method: 'POST', url: '/keys', payload: { tenants: ['*'], ...payload } })

  const ci = await post({ principal_id: 'ci', roles: ['scheduler'] })
  t.equal(ci.statusCode, 201)
  t.equal(ci.json().kind, 'service', 'service by default')
  for (const refused of [
    { principal_id: 'agent:bot', roles: ['scheduler', 'reviewer'] },
    { principal_id: 'agent:bot', roles: ['reviewer'], kind: 'service' }
  ]) {
    const res = await post(refused)
    t.equal(res.statusCode, 400, `${JSON.stringify(refused)} is refused`)
    t.match(res.json(), { code: 'ARBITER_ERR_VALIDATION', message: /service key cannot hold the role reviewer.*kind person/ })
  }
  t.equal((await post({ principal_id: 'x', roles: ['scheduler'], kind: 'robot' })).statusCode, 400, 'no other kind')
  await t.rejects(createKey(ctx.db, OPERATOR, { principal_id: 'agent:bot', roles: ['reviewer'], tenants: ['*'] }),
    { code: 'ARBITER_ERR_VALIDATION' }, 'nor on the database directly (the CLI)')
  await t.rejects(createKey(ctx.db, OPERATOR, { principal_id: 'x', roles: ['scheduler'], tenants: ['*'], kind: 'robot' as 'person' }),
    { code: 'ARBITER_ERR_VALIDATION', message: /unknown kind robot/ })

  const dana = await post({ principal_id: 'dana', roles: ['reviewer'], kind: 'person' })
  t.equal(dana.statusCode, 201)
  t.equal(dana.json().kind, 'person')
  const admin = await post({ principal_id: 'ops', roles: ['admin'] })
  t.equal(admin.json().kind, 'service', 'an admin may be a service: it holds every role, yet votes on nothing')
  const listed = (await ctx.app.inject({ url: '/keys' })).json().keys as Array<{ principal_id: string, kind: string }>
  t.match(listed.filter((k) => ['ci', 'dana', 'alice', 'test-admin'].includes(k.principal_id)).map((k) => [k.principal_id, k.kind]).sort(),
    [['alice', 'person'], ['ci', 'service'], ['dana', 'person'], ['test-admin', 'service']], 'the list shows who is a person')
})

t.test('only a person\'s key votes or makes grants, whatever its roles', async (t) => {
  const ctx = await approvalApp(t)
  const dataDir = tempDir(t)
  const boot = await ensureAdminKey(ctx.db, { dataDir, envToken: 'operator-chosen-token-with-enough-entropy-0123456789' })
  t.match(boot, { kind: 'from-env', created: true })
  t.equal((await getApiKey(ctx.db, identifyToken('operator-chosen-token-with-enough-entropy-0123456789').keyId))?.kind, 'service', 'the first admin key is a service key')
  const personAdmin = await ctx.token({ principal_id: 'pat', roles: ['admin'], kind: 'person' })
  await ctx.check(prodWrite('k1'))

  for (const [who, token] of [['the test admin (service)', ctx.adminToken], ['the bootstrap admin (service)', 'operator-chosen-token-with-enough-entropy-0123456789']]) {
    for (const how of ['approve', 'deny', 'reject'] as const) {
      const res = await ctx.vote('k1', how, token, { note: 'no' })
      t.equal(res.statusCode, 403, `${who} may not ${how}`)
      t.match(res.json(), { code: 'ARBITER_ERR_FORBIDDEN', message: /service key/ })
    }
    const g = await ctx.call('POST', '/grants', token, grantBody)
    t.equal(g.statusCode, 403, `${who} may not make a grant`)
    t.match(g.json(), { code: 'ARBITER_ERR_FORBIDDEN', message: /person's key/ })
  }
  t.equal((await ctx.call('GET', '/approvals', ctx.adminToken)).statusCode, 200, 'it still reads the queue')
  t.equal((await ctx.call('POST', '/grants', personAdmin, grantBody)).statusCode, 201, 'an admin person key makes grants')
  const voted = await ctx.vote('k1', 'approve', personAdmin)
  t.equal(voted.statusCode, 200, 'and votes: admin holds the reviewer role')
  t.equal(voted.json().status, 'APPROVED')
})

/** A copy of the migrations up to and including `last`, removed when `t` ends. */
function migrationsUpTo (t: Test, last: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'arbiter-mig-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  cpSync(MIGRATIONS_DIR, dir, { recursive: true })
  for (const f of readdirSync(dir)) if (f.slice(0, 4) > last) rmSync(path.join(dir, f))
  return dir
}

t.test('migration 0010 on keys in use: the keys of principals who voted become person keys, the rest service keys', async (t) => {
  const testDb = await testDatabase(t)
  const { db } = testDb
  t.match(await migrate(db, migrationsUpTo(t, '0009')), { length: 9 })
  const keys = {
    alice: await insertOldKey(db, 'alice', ['reviewer']),
    aliceJobs: await insertOldKey(db, 'alice', ['scheduler']),
    bob: await insertOldKey(db, 'bob', ['reviewer']),
    bot: await insertOldKey(db, 'agent:bot', ['scheduler']),
    admin: await insertOldKey(db, 'admin', ['admin'])
  }
  await db.query("insert into policy_snapshots (snapshot_id, version, canonical, sources) values ('snap', 'v1', '{}', '[]')")
  await db.query(`insert into approvals (approval_id, tenant_id, job_id, job_hash, job, topic, trace_id, status, reason, policy_snapshot,
      requested_by, requester_principal, agent_principal, approvals_required, approver_roles, dispatch_window_sec, requested_decision_id, created_at, expires_at)
    values ('00000000-0000-4000-8000-000000000001', 'default', 'old-1', 'h', '{}', 'job.write.ticket', 'trace-old-1', 'CONSUMED', 'r', 'snap',
      '{}', 'agent:bot', 'agent:bot', 1, '[["reviewer"]]', 60, '00000000-0000-4000-8000-000000000002', $1, $2)`, [new Date(START - 7200_000), new Date(START - 3600_000)])
  await db.query("insert into approval_votes (approval_id, principal_id, key_id, vote, at) values ('00000000-0000-4000-8000-000000000001', 'alice', $1, 'APPROVE', $2)",
    [keys.alice.keyId, new Date(START - 7000_000)])
  // Grants made before kinds: one by alice (a person), one by bob (a service from now on).
  for (const [session, by] of [['by-alice', keys.alice], ['by-bob', keys.bob]] as const) {
    await db.query(`insert into grants (grant_id, tenant_id, session_id, match, note, created_by, creator_principal, creator_key_id, creator_roles, created_at, expires_at, max_uses)
      values (gen_random_uuid(), 'default', $1, $2, 'n', $3, $4, $5, '{reviewer}', $6, $7, 5)`,
    [session, JSON.stringify({ topics: ['job.write.*'], risk_tags: ['prod'] }), JSON.stringify({ principal_id: by.principal, key_id: by.keyId }), by.principal, by.keyId, new Date(START - 60_000), new Date(START + 3600_000)])
  }

  t.same(await migrate(db, migrationsUpTo(t, '0010')), ['0010_key_kinds.sql'])
  const { rows } = await db.query<{ key_id: string, kind: string }>('select key_id, kind from api_keys')
  const kinds = new Map(rows.map((r) => [r.key_id, r.kind]))
  t.same(Object.fromEntries(Object.entries(keys).map(([name, k]) => [name, kinds.get(k.keyId)])),
    { alice: 'person', aliceJobs: 'person', bob: 'service', bot: 'service', admin: 'service' }, 'every key of a voter is a person\'s; the rest are services\'')
  await t.rejects(db.query("update api_keys set kind = 'person' where key_id = $1", [keys.bob.keyId]), /can only be revoked/, 'a kind never changes')
  await t.rejects(db.query('insert into api_keys (key_id, token_hash, principal_id, roles, tenants, agents, kind, created_by) values (\'key_x\', \'h\', \'x\', \'{admin}\', \'{*}\', \'{**}\', \'robot\', \'t\')'), /check/)

  // The same data served: bob's reviewer key stays valid, but votes on nothing and its grant stands for no one.
  const ctx = await approvalApp(t, { testDb })
  await ctx.check(prodWrite('m1'))
  const bobVote = await ctx.vote('m1', 'approve', keys.bob.token)
  t.equal(bobVote.statusCode, 403, 'a reviewer service key from before the migration may not vote')
  t.match(bobVote.json(), { code: 'ARBITER_ERR_FORBIDDEN' })
  t.equal((await ctx.call('GET', '/approvals', keys.bob.token)).statusCode, 200, 'it still reads the queue')
  t.equal((await ctx.check(prodWrite('m2', { session_id: 'by-bob' }))).decision, 'REQUIRE_APPROVAL', 'a grant a service key made no longer stands in')
  t.equal((await ctx.check(prodWrite('m3', { session_id: 'by-alice' }))).decision, 'ALLOW_WITH_CONSTRAINTS', 'a person\'s grant still does')
  t.equal((await ctx.vote('m1', 'approve', keys.alice.token)).statusCode, 200, 'a voter\'s key still votes')
})

async function insertOldKey (db: Database, principal: string, roles: string[]): Promise<{ keyId: string, token: string, principal: string }> {
  const fresh = generateToken()
  await db.query('insert into api_keys (key_id, token_hash, principal_id, roles, tenants, agents, created_by) values ($1, $2, $3, $4, \'{*}\', \'{**}\', \'cli\')',
    [fresh.keyId, fresh.hash, principal, roles])
  return { keyId: fresh.keyId, token: fresh.token, principal }
}

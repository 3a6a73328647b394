/**
 * Principal ids name people, and people are compared as a reader would: keys for `Alice` and
 * `alice` are one person for separation of duties, never two.
 */
import t from 'tap'
import { canonicalPrincipal, samePrincipal } from '../../src/auth/principal.js'
import { createKey, OPERATOR } from '../../src/auth/keys.js'
import { insertApiKey } from '../../src/store/api-keys.js'
import { approvalApp, prodWrite } from '../fixtures/approvals.js'

t.test('canonical principal ids', async (t) => {
  t.equal(canonicalPrincipal('Alice'), 'alice')
  t.equal(canonicalPrincipal('ＡＬＩＣＥ'), 'alice', 'full-width letters are the letters')
  t.equal(canonicalPrincipal('agent:Bot-1'), 'agent:bot-1')
  t.ok(samePrincipal('Alice', 'aLiCe'))
  t.notOk(samePrincipal('alice', 'alice2'))
  t.notOk(samePrincipal('alice', null))
})

t.test('keys are made for the canonical id; a look-alike of an older spelling is refused', async (t) => {
  const ctx = await approvalApp(t)
  const made = await createKey(ctx.db, OPERATOR, { principal_id: 'Dave', roles: ['reviewer'], tenants: ['*'], kind: 'person' })
  t.equal(made.principal_id, 'dave', 'stored in canonical form')
  t.equal((await createKey(ctx.db, OPERATOR, { principal_id: 'DAVE', roles: ['auditor'], tenants: ['*'] })).principal_id, 'dave', 'another key for the same person')

  // A key from before ids were canonical.
  await insertApiKey(ctx.db, { keyId: 'key_00000000000000ee', tokenHash: 'x'.repeat(64), principalId: 'Erin', roles: ['reviewer'], tenants: ['*'], agents: ['**'], kind: 'person', createdBy: 'cli' })
  t.equal((await createKey(ctx.db, OPERATOR, { principal_id: 'Erin', roles: ['auditor'], tenants: ['*'] })).principal_id, 'Erin', 'the exact older spelling is kept')
  await t.rejects(createKey(ctx.db, OPERATOR, { principal_id: 'erin', roles: ['reviewer'], tenants: ['*'], kind: 'person' }), { code: 'ARBITER_ERR_VALIDATION', message: /same person as the existing principal Erin/ }, 'a second spelling of Erin is refused')

  const res = await ctx.app.inject({ method: 'POST', url: '/keys', payload: { principal_id: 'Frank', roles: ['reviewer'], tenants: ['*'], kind: 'person' } })
  t.equal(res.statusCode, 201)
  t.equal(res.json().principal_id, 'frank', 'over HTTP too')
})

t.test('separation of duties compares people, not spellings', async (t) => {
  const ctx = await approvalApp(t)
  // The agent the job acts for, holding a reviewer key under another spelling.
  const agentAsReviewer = await ctx.token({ principal_id: 'AGENT:BOT', roles: ['reviewer'] })
  const requesterAsReviewer = await ctx.token({ principal_id: 'Sched-1', roles: ['reviewer'] })
  await ctx.check(prodWrite('sod-1', { principal_id: 'Agent:Bot' }))
  for (const token of [agentAsReviewer, requesterAsReviewer]) {
    const res = await ctx.vote('sod-1', 'approve', token)
    t.equal(res.statusCode, 403, 'refused')
    t.match(res.json(), { code: 'ARBITER_ERR_FORBIDDEN', message: /may not resolve it/ })
  }
  t.equal((await ctx.vote('sod-1', 'approve', ctx.tokens.alice)).statusCode, 200, 'another person may')
})

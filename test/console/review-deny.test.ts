/**
 * Denying from the console needs a note (the button refuses without one, and nothing is
 * recorded), and a reviewer whom separation of duties forbids to vote sees the buttons
 * disabled, with the reason. An auditor reads the job's timeline with the log's checkpoint.
 */
import t from 'tap'
import { ArbiterClient, type CheckJob } from '../../src/client/index.js'
import { consoleApp, signIn } from './support.js'

t.test('a deny needs a note; a vote separation of duties forbids is disabled, with the reason', async (t) => {
  const ctx = await consoleApp(t)
  if (ctx === undefined) return
  const scheduler = new ArbiterClient({ baseUrl: ctx.baseUrl, token: ctx.tokens.scheduler })
  const job = { job_id: 'ticket-9', topic: 'job.write.ticket', risk_tags: ['prod'], principal_id: 'agent:bot', args: { id: 9, status: 'closed' } } as unknown as CheckJob
  t.equal((await scheduler.check(job)).decision, 'REQUIRE_APPROVAL')

  // The agent the job acts for holds a reviewer's key too: it may not vote on its own job.
  const agentPage = await ctx.newPage()
  await signIn(agentPage, ctx.baseUrl, ctx.tokens.agent)
  const row = agentPage.locator('#queue-list tr[data-job="ticket-9"]')
  await row.waitFor()
  t.notMatch(await row.textContent(), /awaiting your vote/, 'not awaiting the agent\'s vote')
  await row.getByRole('link', { name: 'ticket-9' }).click()
  await agentPage.getByRole('heading', { name: /ticket-9/ }).waitFor()
  t.ok(await agentPage.getByRole('button', { name: 'Approve' }).isDisabled(), 'approve is disabled for the agent')
  t.ok(await agentPage.getByRole('button', { name: 'Deny' }).isDisabled(), 'deny is disabled for the agent')
  t.match(await agentPage.locator('#vote-why').textContent(), /agent:bot is the agent this job acts for and may not resolve it/, 'the reason is shown')
  t.equal(await agentPage.getByRole('button', { name: 'Approve' }).getAttribute('aria-describedby'), 'vote-why', 'and tied to the buttons for assistive technology')

  // The requester's own reviewer key (sched-1) is refused the same way, by the same API.
  const review = await ctx.call('GET', '/approvals/ticket-9/review', ctx.tokens.schedReviewer)
  t.match(review.json(), { awaiting_my_vote: false, vote_refusal: 'sched-1 requested this approval and may not resolve it' })

  // Bob denies: without a note the button refuses, and nothing is recorded.
  const page = await ctx.newPage()
  await signIn(page, ctx.baseUrl, ctx.tokens.bob)
  await page.locator('#queue-list a', { hasText: 'ticket-9' }).click()
  const deny = page.getByRole('button', { name: 'Deny' })
  t.notOk(await deny.isDisabled(), 'bob may vote')
  await deny.click()
  await page.locator('#vote-why.error').waitFor()
  t.match(await page.locator('#vote-why').textContent(), /A deny needs a note/)
  t.equal(await page.getByLabel('Note').getAttribute('aria-invalid'), 'true')
  t.equal(await page.evaluate('document.activeElement?.id'), 'vote-note', 'the note field has the focus')
  t.match((await ctx.call('GET', '/approvals/ticket-9', ctx.tokens.auditor)).json(), { status: 'PENDING', votes: [] }, 'nothing was recorded')

  // The agent's page, left open, follows the decision without a reload.
  await page.getByLabel('Note').fill('not during the change freeze')
  await page.getByLabel('Note').press('Tab')
  await page.keyboard.press('Tab')
  t.equal(await page.evaluate('document.activeElement?.textContent'), 'Deny', 'the buttons are reached from the keyboard')
  await page.keyboard.press('Enter')
  await page.locator('.page-head .badge', { hasText: 'DENIED' }).waitFor()
  t.match((await ctx.call('GET', '/approvals/ticket-9', ctx.tokens.auditor)).json(), { status: 'DENIED', votes: [{ principal_id: 'bob', vote: 'DENY', note: 'not during the change freeze' }] })
  await agentPage.locator('.page-head .badge', { hasText: 'DENIED' }).waitFor()
  t.match(await agentPage.locator('.votes').textContent(), /not during the change freeze/, 'the other open page shows the vote and its note')
  t.match(await scheduler.check(job), { decision: 'DENY' })

  // An auditor reads the job's story, its terminal state and the log's verification state.
  await ctx.app.checkpointer.idle()
  const auditor = await ctx.newPage()
  await signIn(auditor, ctx.baseUrl, ctx.tokens.auditor)
  await auditor.goto(`${ctx.baseUrl}/console#/trace/default/ticket-9`)
  await auditor.locator('ol.timeline li').first().waitFor()
  const types = await auditor.locator('ol.timeline li .what strong').allTextContents()
  t.same(types.slice(0, 4), ['approval.requested', 'decision', 'approval.vote', 'approval.resolved'], 'the story in log order')
  t.match(await auditor.locator('.verify').textContent(), /Log verification/)

  t.same(ctx.offsite, [], 'no request left 127.0.0.1')
  for (const token of Object.values(ctx.tokens)) t.notOk(ctx.logLines.some((l) => l.includes(token)), 'no log line holds a token')
})

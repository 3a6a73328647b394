/**
 * One approval as the reviewer must judge it: the job, what the gate found in its command,
 * its tags, evidence and the constraints the rules inject, the rule and reason, the votes so
 * far, and what changed since the same job id was asked with other content. Approve or deny
 * with a note (a deny needs one); when the reviewer may not vote, the buttons say why.
 */
import { api, enc, withQuery } from './api.js'
import { diffJobs } from './diff.js'
import { badge, h, replace, toast } from './dom.js'
import { age, show, until, when } from './format.js'
import { describe, inBackground, pageHref } from './links.js'
import type { PageContext } from './page.js'
import type { Approval, Review } from './types.js'

const STATUS_KIND: Record<string, string> = { PENDING: 'accent', APPROVED: 'ok', CONSUMED: 'ok', DENIED: 'bad', EXPIRED: 'bad', CANCELLED: 'bad', INVALIDATED: 'bad', SUPERSEDED: '' }

export async function approvalPage (ctx: PageContext): Promise<void> {
  const [tenant, jobId] = ctx.params
  if (tenant === undefined || jobId === undefined) throw new Error('no approval named')
  const url = withQuery(`/approvals/${enc(jobId)}/review`, { tenant_id: tenant })
  let watching = new AbortController()
  // Draws the approval as it is now, and follows it until it moves (then draws it again).
  const show = async (): Promise<void> => {
    const review = await api<Review>('GET', url, undefined, ctx.signal)
    if (ctx.signal.aborted) return
    watching.abort()
    watching = new AbortController()
    draw(ctx, review, show)
    inBackground(watch(AbortSignal.any([ctx.signal, watching.signal]), review.approval, show), (m) => { toast(m, 'error') })
  }
  await show()
}

/** While the approval is pending, waits for it to move (a vote from someone else, an expiry) and redraws. */
async function watch (signal: AbortSignal, a: Approval, redraw: () => Promise<void>): Promise<void> {
  while (!signal.aborted && a.status === 'PENDING') {
    try {
      const now = await api<Approval>('GET', withQuery(`/approvals/${enc(a.job_id)}`, { tenant_id: a.tenant_id, wait_sec: '25' }), undefined, signal)
      if (signal.aborted) return
      if (now.status !== a.status || now.approvals_received !== a.approvals_received || now.job_hash !== a.job_hash) {
        await redraw()
        return
      }
    } catch {
      if (signal.aborted) return
      await new Promise((resolve) => setTimeout(resolve, 3000))
    }
  }
}

function section (title: string, ...body: Array<Node | string | null>): HTMLElement {
  return h('section', { class: 'card' }, h('h2', {}, title), ...body)
}

function json (v: unknown): HTMLElement {
  return h('pre', { class: 'json' }, JSON.stringify(v, null, 2))
}

function definitions (rows: Array<[string, Node | string | null]>): HTMLElement {
  return h('dl', { class: 'facts' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v ?? '—')]))
}

function draw (ctx: PageContext, r: Review, reload: () => Promise<void>): void {
  const a = r.approval
  const job = a.job
  const tags = Array.isArray(job.risk_tags) ? job.risk_tags as string[] : []
  const labels = (job.labels ?? {}) as Record<string, string>
  replace(ctx.main, h('article', { class: 'page approval', 'aria-labelledby': 'approval-title' },
    h('p', { class: 'crumbs' }, h('a', { href: pageHref('queue') }, '← Queue')),
    h('div', { class: 'page-head' },
      h('h1', { id: 'approval-title' }, h('span', { class: 'muted' }, 'Job '), a.job_id),
      badge(a.status, STATUS_KIND[a.status] ?? '')),
    h('p', { class: 'lede' }, h('code', {}, a.topic), ` · tenant ${a.tenant_id} · asked ${age(a.created_at)} ago · `,
      a.status === 'PENDING' ? `expires ${until(a.expires_at)}` : `resolved ${when(a.resolved_at)}`,
      ` · ${a.approvals_received} of ${a.approvals_required} approvals`),
    h('div', { class: 'columns' },
      h('div', { class: 'col-main' },
        section('Why it needs approval', definitions([
          ['Rule', a.rule_id === null ? null : h('code', {}, a.rule_id)],
          ['Reason', a.reason],
          ['Approvers', `${a.approvals_required} distinct, each with role ${a.approver_roles.map((s) => s.join(' or ')).join(' and ') || 'reviewer'}`],
          ['Agent', typeof job.principal_id === 'string' ? job.principal_id : null],
          ['Requested by', a.requested_by === null ? null : `${a.requested_by.principal_id ?? '—'} (${a.requested_by.key_id ?? 'no key'})`],
          ['Session', typeof job.session_id === 'string' ? job.session_id : null]
        ])),
        diffSection(r),
        commandSection(r, job),
        section('Arguments and labels',
          definitions([
            ['Declared risk tags', tags.length === 0 ? null : h('span', {}, tags.map((t) => badge(t, 'warn')))],
            ['Derived risk tags', r.derived_risk_tags.length === 0 ? null : h('span', {}, r.derived_risk_tags.map((t) => badge(t, 'warn')))],
            ['Labels', Object.keys(labels).length === 0 ? null : h('span', {}, Object.entries(labels).map(([k, v]) => badge(`${k}=${v}`)))],
            ['Working directory', typeof job.cwd === 'string' ? h('code', {}, job.cwd) : null]
          ]),
          job.args === undefined ? h('p', { class: 'muted' }, 'No arguments.') : json(job.args)),
        section('Evidence', a.evidence === null ? h('p', { class: 'muted' }, 'None given.') : json(a.evidence)),
        section('Constraints the rules inject', a.constraints === undefined ? h('p', { class: 'muted' }, 'None.') : json(a.constraints)),
        section('Exactly what is approved', h('p', { class: 'muted small' }, 'The vote is bound to this hash of the job as shown (job_canonical).'), h('code', { class: 'hash' }, a.job_hash))),
      h('aside', { class: 'col-side' },
        voteSection(ctx, r, reload),
        section('Votes so far', a.votes.length === 0
          ? h('p', { class: 'muted' }, 'No votes yet.')
          : h('ul', { class: 'votes' }, a.votes.map((v) => h('li', {},
            badge(v.vote, v.vote === 'APPROVE' ? 'ok' : 'bad'), ' ', h('strong', {}, v.principal_id), h('span', { class: 'muted' }, ` · ${when(v.at)}`),
            v.note === null ? null : h('p', { class: 'note' }, v.note))))),
        ctx.me.roles.some((x) => x === 'auditor' || x === 'admin')
          ? h('p', {}, h('a', { href: pageHref('trace', a.tenant_id, a.job_id) }, 'Open the job’s timeline →'))
          : null))))
}

function commandSection (r: Review, job: Record<string, unknown>): HTMLElement | null {
  if (typeof job.command !== 'string') return null
  const c = r.command
  return section('Command',
    h('pre', { class: 'command' }, job.command),
    c === null
      ? h('p', { class: 'muted' }, 'No analysis recorded.')
      : h('div', {},
        h('p', { class: 'classes' }, 'Classes: ', c.classes.map((k) => badge(k, k === 'read_only' ? 'ok' : k === 'unknown' ? '' : 'warn'))),
        c.parsed ? null : h('p', { class: 'error' }, `Not parsed: ${c.error ?? ''}`),
        (c.commands ?? []).length === 0
          ? null
          : h('table', { class: 'grid compact' },
            h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Simple command'), h('th', { scope: 'col' }, 'Classes'), h('th', { scope: 'col' }, 'Why'))),
            h('tbody', {}, (c.commands ?? []).map((s, i) => h('tr', { class: c.decided_by?.command === i ? 'decided' : '' },
              h('td', { 'data-label': 'Command' }, h('code', {}, s.text)),
              h('td', { 'data-label': 'Classes', class: 'cmd-classes' }, s.classes.map((k) => badge(k, k === 'read_only' ? 'ok' : k === 'unknown' ? '' : 'warn'))),
              h('td', { 'data-label': 'Why' }, s.reason ?? '')))))))
}

function diffSection (r: Review): HTMLElement | null {
  if (r.previous === null) return null
  const changes = diffJobs(r.previous.job, r.approval.job)
  return section('Changed since the earlier request',
    h('p', { class: 'muted' }, `The same job id was asked ${r.previous.created_at === null ? 'before' : `at ${when(r.previous.created_at)}`} with other content (that approval is ${r.previous.status}). What differs:`),
    h('table', { class: 'grid compact diff' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Field'), h('th', { scope: 'col' }, 'Before'), h('th', { scope: 'col' }, 'Now'))),
      h('tbody', {}, changes.map((c) => h('tr', { class: c.kind },
        h('td', { 'data-label': 'Field' }, h('code', {}, c.path)),
        h('td', { 'data-label': 'Before', class: 'before' }, c.kind === 'added' ? h('em', {}, 'absent') : h('code', {}, show(c.before))),
        h('td', { 'data-label': 'Now', class: 'after' }, c.kind === 'removed' ? h('em', {}, 'absent') : h('code', {}, show(c.after))))))))
}

function voteSection (ctx: PageContext, r: Review, reload: () => Promise<void>): HTMLElement {
  const a = r.approval
  const open = a.status === 'PENDING'
  const refusal = open
    ? r.vote_refusal
    : a.status === 'QUEUED'
      ? 'This approval waits behind another of its session: it can be voted on when its turn comes.'
      : `This approval is ${a.status.toLowerCase()}: there is nothing left to vote on.`
  const note = h('textarea', { id: 'vote-note', rows: 3, maxlength: 4096, placeholder: 'What you checked, or why not', disabled: refusal !== null, 'aria-describedby': 'vote-why' })
  const approve = h('button', { type: 'button', class: 'primary', id: 'approve', disabled: refusal !== null, 'aria-describedby': 'vote-why' }, 'Approve')
  const deny = h('button', { type: 'button', class: 'danger', id: 'deny', disabled: refusal !== null, 'aria-describedby': 'vote-why' }, 'Deny')
  const why = h('p', { id: 'vote-why', class: refusal === null ? 'muted small' : 'refusal', role: refusal === null ? null : 'note' },
    refusal ?? 'Your vote is bound to the job exactly as shown. A deny needs a note.')
  const cast = async (decision: 'approve' | 'deny'): Promise<void> => {
    const text = note.value.trim()
    if (decision === 'deny' && text === '') {
      why.textContent = 'A deny needs a note: say why, for the requester and the record.'
      why.className = 'error'
      note.setAttribute('aria-invalid', 'true')
      note.focus()
      return
    }
    approve.disabled = deny.disabled = true
    try {
      await api('POST', `/approvals/${enc(a.job_id)}/${decision}`, { tenant_id: a.tenant_id, job_hash: a.job_hash, ...(text === '' ? {} : { note: text }) }, ctx.signal)
      toast(decision === 'approve' ? `Approved ${a.job_id}` : `Denied ${a.job_id}`)
      await reload()
    } catch (err) {
      why.textContent = describe(err)
      why.className = 'error'
      approve.disabled = deny.disabled = false
    }
  }
  approve.addEventListener('click', () => { inBackground(cast('approve'), (m) => { toast(m, 'error') }) })
  deny.addEventListener('click', () => { inBackground(cast('deny'), (m) => { toast(m, 'error') }) })
  return h('section', { class: 'card vote', 'aria-labelledby': 'vote-title' },
    h('h2', { id: 'vote-title' }, 'Your decision'),
    h('div', { class: 'field' }, h('label', { for: 'vote-note' }, 'Note'), note),
    h('div', { class: 'actions' }, approve, deny), why)
}

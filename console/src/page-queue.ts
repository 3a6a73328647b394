/**
 * The queue: pending approvals of the reviewer's tenants, oldest first, filtered, kept current
 * by long-polling `GET /queue` (no reload): each answer carries a version, and the next read
 * waits until the queue differs from it.
 */
import { api, withQuery } from './api.js'
import { badge, field, h, replace } from './dom.js'
import { age, until } from './format.js'
import { describe, inBackground, pageHref } from './links.js'
import type { PageContext } from './page.js'
import type { QueueAnswer } from './types.js'

const WAIT_SEC = '25'

interface Filter { tenant_id?: string, topic?: string, rule_id?: string, risk_tag?: string, awaiting_my_vote?: string }

/** The filter survives a visit to an approval and back, for this tab only. */
function savedFilter (): Filter {
  try { return JSON.parse(sessionStorage.getItem('arbiter.queue-filter') ?? '{}') as Filter } catch { return {} }
}

export async function queuePage ({ me, main, signal }: PageContext): Promise<void> {
  const filter = savedFilter()
  const input = (id: string, value: string | undefined, placeholder: string): HTMLInputElement =>
    h('input', { id, type: 'text', value: value ?? '', placeholder, autocomplete: 'off' })
  const tenant = me.tenants.includes('*')
    ? input('f-tenant', filter.tenant_id, 'any tenant')
    : h('select', { id: 'f-tenant' }, h('option', { value: '' }, 'all my tenants'), me.tenants.map((t) => h('option', { value: t, selected: t === filter.tenant_id }, t)))
  const topic = input('f-topic', filter.topic, 'job.mcp-bridge.write.ticket')
  const rule = input('f-rule', filter.rule_id, 'rule id')
  const tag = input('f-tag', filter.risk_tag, 'prod')
  const mine = h('input', { id: 'f-mine', type: 'checkbox', checked: filter.awaiting_my_vote === 'true' })
  const live = h('span', { class: 'live', role: 'status' }, 'connecting…')
  const list = h('div', { id: 'queue-list' })
  const form = h('form', { class: 'filters-form', 'aria-label': 'Filter the queue' },
    field('Tenant', tenant), field('Topic', topic), field('Rule', rule), field('Risk tag', tag),
    h('div', { class: 'field check' }, mine, h('label', { for: 'f-mine' }, 'Awaiting my vote')),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Apply'), h('button', { type: 'reset', class: 'secondary' }, 'Clear')))
  replace(main, h('section', { class: 'page' },
    h('div', { class: 'page-head' }, h('h1', {}, 'Approval queue'), live),
    h('p', { class: 'muted' }, 'Pending approvals of your tenants, oldest first. New requests appear here as they arrive.'),
    // Folded on a phone, where the queue itself should come first.
    h('details', { class: 'filters', open: window.matchMedia('(min-width: 641px)').matches }, h('summary', {}, 'Filters'), form), list))

  let run = new AbortController()
  const restart = (): void => {
    run.abort()
    run = new AbortController()
    const f: Filter = { tenant_id: tenant.value.trim(), topic: topic.value.trim(), rule_id: rule.value.trim(), risk_tag: tag.value.trim(), awaiting_my_vote: mine.checked ? 'true' : undefined }
    sessionStorage.setItem('arbiter.queue-filter', JSON.stringify(f))
    inBackground(follow(f, AbortSignal.any([signal, run.signal])), (m) => { live.textContent = m })
  }
  form.addEventListener('submit', (e) => { e.preventDefault(); restart() })
  form.addEventListener('reset', () => { setTimeout(restart, 0) })
  mine.addEventListener('change', restart)

  let last: QueueAnswer | null = null
  const ticker = setInterval(() => { if (last !== null) draw(list, last) }, 15_000)
  signal.addEventListener('abort', () => { clearInterval(ticker) })

  async function follow (f: Filter, stop: AbortSignal): Promise<void> {
    let version: string | undefined
    while (!stop.aborted) {
      try {
        const answer = await api<QueueAnswer>('GET', withQuery('/queue', { ...f, version, wait_sec: version === undefined ? undefined : WAIT_SEC }), undefined, stop)
        if (stop.aborted) return
        live.textContent = 'live'
        live.className = 'live on'
        if (answer.version !== version) {
          version = answer.version
          last = answer
          draw(list, answer)
        }
      } catch (err) {
        if (stop.aborted) return
        live.textContent = `reconnecting: ${describe(err)}`
        live.className = 'live off'
        await new Promise((resolve) => setTimeout(resolve, 3000))
      }
    }
  }
  restart()
}

function draw (list: HTMLElement, q: QueueAnswer): void {
  if (q.approvals.length === 0) {
    replace(list, h('div', { class: 'empty' }, h('p', {}, 'Nothing waits for a decision.'), h('p', { class: 'muted' }, 'This page updates by itself.')))
    return
  }
  const rows = q.approvals.map(({ approval: a, awaiting_my_vote: awaiting, vote_refusal: refusal }) => {
    const tags = Array.isArray(a.job.risk_tags) ? a.job.risk_tags as string[] : []
    const agent = typeof a.job.principal_id === 'string' ? a.job.principal_id : '—'
    const soon = a.expires_at !== null && Date.parse(a.expires_at) - Date.now() < 10 * 60_000
    return h('tr', { 'data-job': a.job_id },
      h('td', { 'data-label': 'Job' }, h('a', { href: pageHref('approval', a.tenant_id, a.job_id), class: 'job' }, a.job_id),
        awaiting ? badge('awaiting your vote', 'accent') : null, refusal !== null && !awaiting ? h('span', { class: 'muted small', title: refusal }, ' · you cannot vote') : null),
      h('td', { 'data-label': 'Tenant' }, a.tenant_id),
      h('td', { 'data-label': 'Topic' }, h('code', {}, a.topic)),
      h('td', { 'data-label': 'Rule' }, a.rule_id ?? '—'),
      h('td', { 'data-label': 'Risk' }, tags.length === 0 ? '—' : tags.map((t) => badge(t, t === 'prod' || t === 'destructive' ? 'warn' : ''))),
      h('td', { 'data-label': 'Agent' }, agent),
      h('td', { 'data-label': 'Votes' }, `${a.approvals_received} / ${a.approvals_required}`),
      h('td', { 'data-label': 'Age' }, age(a.created_at)),
      h('td', { 'data-label': 'Expires', class: soon ? 'warn-text' : '' }, until(a.expires_at)))
  })
  replace(list,
    h('table', { class: 'grid' },
      h('caption', { class: 'sr-only' }, 'Pending approvals'),
      h('thead', {}, h('tr', {}, ['Job', 'Tenant', 'Topic', 'Rule', 'Risk', 'Agent', 'Votes', 'Age', 'Expires'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows)),
    q.truncated ? h('p', { class: 'muted' }, 'Showing the oldest 500; narrow the filter to see others.') : null)
}

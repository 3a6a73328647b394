/**
 * A job's story for auditors: where it stands (decision, approval, dispatch, terminal status,
 * violations), every record in log order, and how far the log is sealed by a signed checkpoint.
 */
import { api, enc, withQuery } from './api.js'
import { badge, field, h, replace } from './dom.js'
import { when } from './format.js'
import { pageHref } from './links.js'
import type { PageContext } from './page.js'

interface Entry { tenant_id: string, seq: number, at: string, type: string, actor: Record<string, string> | null, trace_id: string, decision: string | null, rule_id: string | null, reason: string | null, status: string | null, approval_state: string | null, verdict: string | null, vote?: string, note?: string | null, detail?: string }
interface Story {
  tenant_id: string
  job_id: string
  trace_id: string
  traces: string[]
  decision: { decision: string, rule_id: string | null, reason: string | null, at: string } | null
  approval: { approval_state: string, at: string } | null
  dispatch_status: string | null
  terminal_status: string | null
  violations: number
  entries: Entry[]
}
interface Checkpoint { tenant_id: string, seq: number, at: string, key_id: string, head_hash: string }
interface DecisionRow { job_id: string, tenant_id: string, decision: string, topic: string, checked_at?: string, at?: string }

const KIND: Record<string, string> = { ALLOW: 'ok', ALLOW_WITH_CONSTRAINTS: 'ok', SUCCEEDED: 'ok', APPROVED: 'ok', CONSUMED: 'ok', DENY: 'bad', DENIED: 'bad', FAILED: 'bad', REQUIRE_APPROVAL: 'accent', PENDING: 'accent' }
const mark = (v: string | null): HTMLElement | string => v === null ? '—' : badge(v, KIND[v] ?? '')

export async function tracePage ({ main, signal, params }: PageContext): Promise<void> {
  const [tenant, jobId] = params
  const tenantIn = h('input', { id: 't-tenant', type: 'text', value: tenant ?? 'default', required: true })
  const jobIn = h('input', { id: 't-job', type: 'text', value: jobId ?? '', required: true, placeholder: 'job-42' })
  const form = h('form', { class: 'filters', 'aria-label': 'Find a job' }, field('Tenant', tenantIn), field('Job id', jobIn),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Show timeline')))
  form.addEventListener('submit', (e) => { e.preventDefault(); location.hash = pageHref('trace', tenantIn.value.trim(), jobIn.value.trim()) })
  const body = h('div', {})
  replace(main, h('section', { class: 'page' }, h('div', { class: 'page-head' }, h('h1', {}, 'Job timeline')), form, body))
  if (tenant === undefined || jobId === undefined) {
    const { decisions } = await api<{ decisions: DecisionRow[] }>('GET', '/decisions?limit=15', undefined, signal)
    const items = decisions.map((d) => h('li', {}, mark(d.decision), ' ', h('a', { href: pageHref('trace', d.tenant_id, d.job_id) }, d.job_id), h('span', { class: 'muted' }, ` · ${d.tenant_id} · ${d.topic}`)))
    replace(body, h('section', { class: 'card' }, h('h2', {}, 'Recent decisions'), items.length === 0 ? h('p', { class: 'muted' }, 'None recorded yet.') : h('ul', { class: 'plain' }, items)))
    return
  }
  const [story, latest] = await Promise.all([
    api<Story>('GET', withQuery(`/jobs/${enc(jobId)}`, { tenant_id: tenant }), undefined, signal),
    api<{ checkpoints: Checkpoint[] }>('GET', '/audit/checkpoints/latest', undefined, signal)
  ])
  const cp = latest.checkpoints.find((c) => c.tenant_id === tenant)
  const lastSeq = Math.max(0, ...story.entries.map((e) => e.seq))
  const sealed = cp !== undefined && cp.seq >= lastSeq
  replace(body,
    h('div', { class: 'summary' },
      h('div', { class: 'stat' }, h('span', { class: 'label' }, 'Terminal status'), mark(story.terminal_status)),
      h('div', { class: 'stat' }, h('span', { class: 'label' }, 'Latest decision'), mark(story.decision?.decision ?? null)),
      h('div', { class: 'stat' }, h('span', { class: 'label' }, 'Approval'), mark(story.approval?.approval_state ?? null)),
      h('div', { class: 'stat' }, h('span', { class: 'label' }, 'Last dispatch report'), mark(story.dispatch_status)),
      h('div', { class: 'stat' }, h('span', { class: 'label' }, 'Violations'), story.violations === 0 ? badge('none', 'ok') : badge(String(story.violations), 'bad'))),
    h('section', { class: `card verify ${sealed ? 'sealed' : 'open'}`, 'aria-label': 'Log verification' },
      h('h2', {}, 'Log verification'),
      cp === undefined
        ? h('p', {}, `No checkpoint of tenant ${tenant}'s log yet: its records are hash-chained and HMAC-signed, not yet sealed by a signed checkpoint.`)
        : h('p', {}, sealed ? badge('sealed', 'ok') : badge('partly sealed', 'accent'),
          ` Latest checkpoint of ${tenant}: records 1–${cp.seq}, signed ${when(cp.at)} with key ${cp.key_id}. `,
          sealed ? 'Every record below is covered by it.' : `Records after seq ${cp.seq} are chained and signed, and will be sealed by the next checkpoint.`)),
    h('section', { class: 'card' },
      h('h2', {}, `Timeline of ${story.job_id}`),
      h('p', { class: 'muted small' }, `Trace ${story.trace_id}`, story.traces.length > 1 ? ` · also under ${story.traces.filter((t) => t !== story.trace_id).join(', ')}` : ''),
      h('ol', { class: 'timeline' }, story.entries.map((e) => h('li', { class: cp !== undefined && e.seq <= cp.seq ? 'sealed' : '' },
        h('div', { class: 'when' }, h('span', { class: 'seq' }, `#${e.seq}`), ' ', when(e.at)),
        h('div', { class: 'what' }, h('strong', {}, e.type), ' ', mark(e.type === 'job.event' ? e.status : e.decision ?? e.approval_state ?? e.verdict ?? e.status), e.vote === undefined ? null : badge(e.vote, e.vote === 'APPROVE' ? 'ok' : 'bad')),
        h('div', { class: 'actor muted' }, e.actor === null ? '' : [e.actor.principal_id ?? e.actor.system, e.actor.key_id].filter((x) => x !== undefined).join(' · ')),
        e.reason === null && (e.note ?? null) === null && e.detail === undefined ? null : h('div', { class: 'why' }, [e.reason, e.note, e.detail].filter((x) => x !== null && x !== undefined).join(' — ')))))))
}

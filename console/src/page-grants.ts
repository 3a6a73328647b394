/**
 * Session grants: the live ones (or all), making one for a session with its scope, TTL and
 * uses, and revoking. Making and revoking need the reviewer role (and a person's key to make).
 */
import { api, enc, withQuery } from './api.js'
import { badge, field, h, replace, toast } from './dom.js'
import { until, when } from './format.js'
import { describe, inBackground } from './links.js'
import type { PageContext } from './page.js'

interface Grant {
  grant_id: string
  tenant_id: string
  session_id: string
  match: { topics: string[], risk_tags?: string[], labels?: Record<string, string>, principals?: string[] }
  note: string
  created_by: Record<string, string> | null
  created_at: string
  expires_at: string
  max_uses: number
  uses: number
  revoked_at: string | null
  revoked_by: Record<string, string> | null
}

const list = (s: string): string[] => s.split(',').map((x) => x.trim()).filter((x) => x !== '')

export async function grantsPage ({ me, main, signal }: PageContext): Promise<void> {
  const reviewer = me.roles.includes('reviewer') || me.roles.includes('admin')
  const canMake = reviewer && me.kind === 'person'
  const all = h('input', { id: 'g-all', type: 'checkbox' })
  const table = h('div', {})
  const load = async (): Promise<void> => {
    const { grants } = await api<{ grants: Grant[] }>('GET', withQuery('/grants', { include_inactive: all.checked ? 'true' : undefined, limit: '200' }), undefined, signal)
    drawGrants(table, grants, reviewer, load)
  }
  all.addEventListener('change', () => { inBackground(load(), (m) => { toast(m, 'error') }) })
  replace(main, h('section', { class: 'page' },
    h('div', { class: 'page-head' }, h('h1', {}, 'Session grants')),
    h('p', { class: 'muted' }, 'A grant pre-authorizes a class of action for one agent session, for a while and a number of uses. It never turns a deny into an allow.'),
    h('div', { class: 'columns' },
      h('div', { class: 'col-main' },
        h('div', { class: 'field check' }, all, h('label', { for: 'g-all' }, 'Show expired, used up and revoked grants too')),
        table),
      h('aside', { class: 'col-side' }, canMake ? grantForm(me.tenants, load) : cannotMake(reviewer)))))
  await load()
}

function cannotMake (reviewer: boolean): HTMLElement {
  const why = reviewer ? 'Grants are made with a person’s key; this is a service key.' : 'Making grants needs the reviewer role.'
  return h('section', { class: 'card' }, h('h2', {}, 'New grant'), h('p', { class: 'refusal' }, why))
}

function drawGrants (el: HTMLElement, grants: Grant[], reviewer: boolean, reload: () => Promise<void>): void {
  if (grants.length === 0) {
    replace(el, h('div', { class: 'empty' }, h('p', {}, 'No grants.')))
    return
  }
  replace(el, h('table', { class: 'grid' },
    h('thead', {}, h('tr', {}, ['Session', 'Tenant', 'Covers', 'Uses', 'Expires', 'Made by', 'Note', ''].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, grants.map((g) => {
      const live = g.revoked_at === null && Date.parse(g.expires_at) > Date.now() && g.uses < g.max_uses
      const revoke = h('button', { type: 'button', class: 'danger small', 'aria-label': `Revoke the grant for session ${g.session_id}` }, 'Revoke')
      revoke.addEventListener('click', () => {
        if (!window.confirm(`Revoke the grant for session ${g.session_id}? Checks it covered will ask for approval again.`)) return
        revoke.disabled = true
        api('DELETE', `/grants/${enc(g.grant_id)}`).then(async () => { toast('Grant revoked'); await reload() }, (err) => { toast(describe(err), 'error'); revoke.disabled = false })
      })
      return h('tr', { class: live ? '' : 'inactive' },
        h('td', { 'data-label': 'Session' }, h('code', {}, g.session_id)),
        h('td', { 'data-label': 'Tenant' }, g.tenant_id),
        h('td', { 'data-label': 'Covers' }, g.match.topics.map((t) => h('code', { class: 'block' }, t)),
          (g.match.risk_tags ?? []).map((t) => badge(t, 'warn')), (g.match.principals ?? []).map((p) => badge(p))),
        h('td', { 'data-label': 'Uses' }, `${g.uses} / ${g.max_uses}`),
        h('td', { 'data-label': 'Expires' }, g.revoked_at !== null ? badge('revoked', 'bad') : until(g.expires_at), h('small', { class: 'muted block' }, when(g.expires_at))),
        h('td', { 'data-label': 'Made by' }, g.created_by?.principal_id ?? '—'),
        h('td', { 'data-label': 'Note' }, g.note),
        h('td', {}, live && reviewer ? revoke : null))
    }))))
}

function grantForm (tenants: string[], reload: () => Promise<void>): HTMLElement {
  const tenant = tenants.includes('*')
    ? h('input', { id: 'n-tenant', type: 'text', value: 'default', required: true })
    : h('select', { id: 'n-tenant' }, tenants.map((t) => h('option', { value: t }, t)))
  const session = h('input', { id: 'n-session', type: 'text', required: true, placeholder: 'migration-2026-11-25', autocomplete: 'off' })
  const topics = h('input', { id: 'n-topics', type: 'text', required: true, placeholder: 'job.mcp-bridge.write.*' })
  const tags = h('input', { id: 'n-tags', type: 'text', placeholder: 'prod' })
  const ttl = h('input', { id: 'n-ttl', type: 'number', min: 1, max: 1440, value: 60, required: true })
  const uses = h('input', { id: 'n-uses', type: 'number', min: 1, max: 10000, value: 20, required: true })
  const note = h('textarea', { id: 'n-note', rows: 2, required: true, placeholder: 'ticket migration, OPS-1234' })
  const problem = h('p', { class: 'error', role: 'alert' })
  const form = h('form', { class: 'card', 'aria-labelledby': 'new-grant' },
    h('h2', { id: 'new-grant' }, 'New grant'),
    field('Tenant', tenant), field('Session id', session), field('Topics', topics, 'Comma-separated globs'),
    field('Risk tags covered', tags, 'Comma-separated; a job with any other tag is not covered'),
    h('div', { class: 'row' }, field('TTL (minutes)', ttl), field('Max uses', uses)),
    field('Note', note), problem,
    h('button', { type: 'submit', class: 'primary' }, 'Create grant'))
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    const risk = list(tags.value)
    const body = {
      tenant_id: tenant.value.trim(),
      session_id: session.value.trim(),
      match: { topics: list(topics.value), ...(risk.length === 0 ? {} : { risk_tags: risk }) },
      ttl_sec: Math.round(Number(ttl.value) * 60),
      max_uses: Number(uses.value),
      note: note.value.trim()
    }
    api('POST', '/grants', body).then(async () => {
      toast(`Grant made for session ${body.session_id}`)
      problem.textContent = ''
      form.reset()
      await reload()
    }, (err) => { problem.textContent = describe(err) })
  })
  return form
}

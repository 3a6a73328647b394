/** Keys, for admins: who holds which (people and services told apart), making one (its token shown once), revoking. */
import { api, enc, withQuery } from './api.js'
import { badge, field, h, replace, toast } from './dom.js'
import { when } from './format.js'
import { describe, inBackground } from './links.js'
import type { PageContext } from './page.js'

interface Key { key_id: string, principal_id: string, roles: string[], tenants: string[], agents: string[], kind: 'person' | 'service', created_at: string, created_by: string, revoked_at: string | null, revoked_by: string | null }

const list = (s: string): string[] => s.split(',').map((x) => x.trim()).filter((x) => x !== '')

export async function keysPage ({ me, main, signal }: PageContext): Promise<void> {
  const all = h('input', { id: 'k-all', type: 'checkbox' })
  const table = h('div', {})
  const shown = h('div', {})
  const load = async (): Promise<void> => {
    const { keys } = await api<{ keys: Key[] }>('GET', withQuery('/keys', { include_revoked: all.checked ? 'true' : undefined }), undefined, signal)
    drawKeys(table, keys, me.key_id, load)
  }
  all.addEventListener('change', () => { inBackground(load(), (m) => { toast(m, 'error') }) })
  replace(main, h('section', { class: 'page' },
    h('div', { class: 'page-head' }, h('h1', {}, 'Keys')),
    h('p', { class: 'muted' }, 'Only a person’s key votes on approvals or makes grants; services (agents, schedulers, pipelines) hold service keys. A key’s kind is set when it is made and never changes.'),
    h('div', { class: 'columns' },
      h('div', { class: 'col-main' }, h('div', { class: 'field check' }, all, h('label', { for: 'k-all' }, 'Show revoked keys too')), table),
      h('aside', { class: 'col-side' }, keyForm(shown, load), shown))))
  await load()
}

function drawKeys (el: HTMLElement, keys: Key[], mine: string | null, reload: () => Promise<void>): void {
  replace(el, h('table', { class: 'grid' },
    h('thead', {}, h('tr', {}, ['Principal', 'Kind', 'Roles', 'Tenants', 'Agents', 'Made', ''].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, keys.map((k) => {
      const revoke = h('button', { type: 'button', class: 'danger small', 'aria-label': `Revoke key ${k.key_id} of ${k.principal_id}` }, 'Revoke')
      revoke.addEventListener('click', () => {
        if (!window.confirm(`Revoke ${k.principal_id}'s key ${k.key_id}? This is final.`)) return
        revoke.disabled = true
        api('DELETE', `/keys/${enc(k.key_id)}`).then(async () => { toast('Key revoked'); await reload() }, (err) => { toast(describe(err), 'error'); revoke.disabled = false })
      })
      return h('tr', { class: k.revoked_at === null ? '' : 'inactive' },
        h('td', { 'data-label': 'Principal' }, h('strong', {}, k.principal_id), h('small', { class: 'muted block' }, k.key_id), k.key_id === mine ? badge('this key') : null),
        h('td', { 'data-label': 'Kind' }, badge(k.kind === 'person' ? 'person' : 'service', k.kind === 'person' ? 'accent' : '')),
        h('td', { 'data-label': 'Roles' }, k.roles.join(', ')),
        h('td', { 'data-label': 'Tenants' }, k.tenants.join(', ')),
        h('td', { 'data-label': 'Agents' }, k.agents.join(', ')),
        h('td', { 'data-label': 'Made' }, when(k.created_at), h('small', { class: 'muted block' }, `by ${k.created_by}`)),
        h('td', {}, k.revoked_at === null ? (k.key_id === mine ? null : revoke) : h('span', {}, badge('revoked', 'bad'), h('small', { class: 'muted block' }, when(k.revoked_at)))))
    }))))
}

function keyForm (shown: HTMLElement, reload: () => Promise<void>): HTMLElement {
  const principal = h('input', { id: 'k-principal', type: 'text', required: true, placeholder: 'alice', autocomplete: 'off' })
  const kind = h('select', { id: 'k-kind' }, h('option', { value: 'person' }, 'person'), h('option', { value: 'service' }, 'service'))
  const roles = h('fieldset', { class: 'roles' }, h('legend', {}, 'Roles'), ['reviewer', 'auditor', 'scheduler', 'admin'].map((r) =>
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'role', value: r, checked: r === 'reviewer' }), ` ${r}`)))
  const tenants = h('input', { id: 'k-tenants', type: 'text', required: true, value: 'default', placeholder: 'acme, beta or *' })
  const agents = h('input', { id: 'k-agents', type: 'text', placeholder: '** (any)' })
  const problem = h('p', { class: 'error', role: 'alert' })
  const form = h('form', { class: 'card', 'aria-labelledby': 'new-key' },
    h('h2', { id: 'new-key' }, 'New key'), field('Principal id', principal), field('Kind', kind, 'person: a human who may vote; service: everything else'),
    roles, field('Tenants', tenants, 'Comma-separated, or *'), field('Agents', agents, 'Comma-separated globs; empty for any'), problem,
    h('button', { type: 'submit', class: 'primary' }, 'Create key'))
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    const body = {
      principal_id: principal.value.trim(),
      kind: kind.value,
      roles: [...roles.querySelectorAll<HTMLInputElement>('input:checked')].map((i) => i.value),
      tenants: list(tenants.value),
      ...(list(agents.value).length === 0 ? {} : { agents: list(agents.value) })
    }
    api<Key & { token: string }>('POST', '/keys', body).then(async (made) => {
      problem.textContent = ''
      form.reset()
      const token = h('input', { id: 'k-token', type: 'text', readonly: true, value: made.token, class: 'token' })
      const copy = h('button', { type: 'button' }, 'Copy')
      copy.addEventListener('click', () => { inBackground(navigator.clipboard.writeText(made.token).then(() => { toast('Copied') }), (m) => { toast(m, 'error') }) })
      const done = h('button', { type: 'button', class: 'secondary' }, 'Done: hide it')
      done.addEventListener('click', () => { replace(shown) })
      replace(shown, h('section', { class: 'card once', role: 'alert' }, h('h2', {}, `Token for ${made.principal_id}`),
        h('p', {}, 'Shown this once: Arbiter keeps only its hash. Hand it to its holder now.'), field('Token', token), h('div', { class: 'actions' }, copy, done)))
      token.select()
      await reload()
    }, (err) => { problem.textContent = describe(err) })
  })
  return form
}

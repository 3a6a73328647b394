/**
 * The console's shell: sign-in, the navigation each role may use, and a hash router (the hash
 * names a page and what it shows, never a credential). Each page gets a signal that aborts
 * when the user leaves it, which ends its live updates.
 */
import { api, ApiError, forgetToken, storedToken, storeToken, type Whoami } from './api.js'
import { byId, field, h, replace, toast } from './dom.js'
import { describe, inBackground, pageHref } from './links.js'
import { approvalPage } from './page-approval.js'
import { grantsPage } from './page-grants.js'
import { keysPage } from './page-keys.js'
import { queuePage } from './page-queue.js'
import { tracePage } from './page-trace.js'

import type { PageContext } from './page.js'

interface Page { name: string, title: string, show: (me: Whoami) => boolean, render: (ctx: PageContext) => Promise<void> }

const has = (me: Whoami, ...roles: string[]): boolean => me.roles.includes('admin') || me.roles.some((r) => roles.includes(r))

const PAGES: Page[] = [
  { name: 'queue', title: 'Queue', show: (me) => has(me, 'reviewer', 'auditor'), render: queuePage },
  { name: 'approval', title: 'Approval', show: () => false, render: approvalPage },
  { name: 'grants', title: 'Grants', show: (me) => has(me, 'reviewer', 'auditor'), render: grantsPage },
  { name: 'trace', title: 'Trace', show: (me) => has(me, 'auditor'), render: tracePage },
  { name: 'keys', title: 'Keys', show: (me) => has(me, 'admin'), render: keysPage }
]

let me: Whoami | null = null
let leave = new AbortController()

function parseHash (): { name: string, params: string[] } {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter((p) => p !== '')
  return { name: parts[0] ?? '', params: parts.slice(1).map(decodeURIComponent) }
}

function renderSignIn (problem?: string): void {
  const input = h('input', { id: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true, placeholder: 'arb_…' })
  const form = h('form', { class: 'card signin', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in'),
    h('p', {}, 'Paste your Arbiter token. It is kept in this tab only (sessionStorage) and sent in the Authorization header; it never appears in a URL.'),
    field('Bearer token', input),
    problem === undefined ? null : h('p', { class: 'error', role: 'alert' }, problem),
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'))
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    storeToken(input.value.trim())
    inBackground(start(), (m) => { toast(m, 'error') })
  })
  replace(byId('nav'))
  replace(byId('who'))
  replace(byId('main'), form)
  document.title = 'Sign in · Arbiter'
  input.focus()
}

function renderChrome (who: Whoami): void {
  const current = parseHash().name
  replace(byId('nav'), PAGES.filter((p) => p.show(who)).map((p) =>
    h('a', { href: pageHref(p.name), 'aria-current': p.name === current || (current === 'approval' && p.name === 'queue') ? 'page' : null }, p.title)))
  const signOut = h('button', { type: 'button', class: 'link' }, 'Sign out')
  signOut.addEventListener('click', () => {
    forgetToken()
    me = null
    leave.abort()
    location.hash = ''
    renderSignIn()
  })
  replace(byId('who'),
    h('span', { class: 'principal', title: `key ${who.key_id ?? '—'}` }, who.principal_id),
    h('span', { class: 'muted' }, ` ${who.kind} · ${who.roles.join(', ')} · ${who.tenants.join(', ')}`), ' ', signOut)
}

async function route (): Promise<void> {
  if (me === null) return
  leave.abort()
  leave = new AbortController()
  const { name, params } = parseHash()
  const page = PAGES.find((p) => p.name === name && (p.name === 'approval' || p.show(me as Whoami))) ?? PAGES.find((p) => p.show(me as Whoami))
  renderChrome(me)
  const main = byId('main')
  if (page === undefined) {
    replace(main, h('section', { class: 'card' }, h('h1', {}, 'Nothing to show'), h('p', {}, 'This key has no role the console serves (reviewer, auditor or admin).')))
    return
  }
  document.title = `${page.title} · Arbiter`
  replace(main, h('p', { class: 'muted' }, 'Loading…'))
  try {
    await page.render({ me, main, signal: leave.signal, params })
  } catch (err) {
    if (leave.signal.aborted) return
    if (err instanceof ApiError && err.status === 401) return renderSignIn('That token was not accepted (unknown, revoked or mistyped).')
    replace(main, h('section', { class: 'card' }, h('h1', {}, 'Something went wrong'), h('p', { class: 'error', role: 'alert' }, describe(err))))
  }
}

async function start (): Promise<void> {
  if (storedToken() === null) return renderSignIn()
  try {
    me = await api<Whoami>('GET', '/whoami')
  } catch (err) {
    forgetToken()
    return renderSignIn(err instanceof ApiError && err.status === 401 ? 'That token was not accepted (unknown, revoked or mistyped).' : describe(err))
  }
  await route()
}

window.addEventListener('hashchange', () => { inBackground(route(), (m) => { toast(m, 'error') }) })
window.addEventListener('unhandledrejection', (e) => { toast(describe(e.reason), 'error') })
inBackground(start(), (m) => { toast(m, 'error') })

/** Building the DOM without HTML strings: every value shown is text, never markup. */
type Child = Node | string | number | null | undefined | false | readonly Child[]
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>

/** An element with attributes (`on…` are listeners; false/null/undefined are left out) and children. */
export function h<K extends keyof HTMLElementTagNameMap> (tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue
    if (typeof v === 'function') el.addEventListener(k.slice(2), v)
    else if (v === true) el.setAttribute(k, '')
    else el.setAttribute(k, String(v))
  }
  append(el, children)
  return el
}

export function append (el: Element, children: readonly Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue
    if (Array.isArray(c)) append(el, c)
    else el.append(typeof c === 'object' ? c as Node : String(c))
  }
}

/** Replaces what `el` holds. */
export function replace (el: Element, ...children: Child[]): void {
  el.replaceChildren()
  append(el, children)
}

export function byId<T extends HTMLElement = HTMLElement> (id: string): T {
  const el = document.getElementById(id)
  if (el === null) throw new Error(`no #${id}`)
  return el as T
}

/** A labelled form field: the label wraps nothing, names its control by id. */
export function field (label: string, control: HTMLElement, hint?: string): HTMLElement {
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control, hint === undefined ? null : h('small', { class: 'hint' }, hint))
}

export function badge (text: string, kind = ''): HTMLElement {
  return h('span', { class: `badge ${kind}`.trim() }, text)
}

let toastTimer: number | undefined
/** A short message in the live region. */
export function toast (message: string, kind: 'ok' | 'error' = 'ok'): void {
  const el = byId('toast')
  el.className = `toast show ${kind}`
  el.textContent = message
  window.clearTimeout(toastTimer)
  toastTimer = window.setTimeout(() => { el.className = 'toast' }, 4000)
}

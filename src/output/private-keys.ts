/** PEM, OpenSSH and PGP private key blocks. */
import type { Span } from './text.js'

// PEM labels end in "PRIVATE KEY"; PGP armour says "PRIVATE KEY BLOCK". Certificates and public keys do not.
const PRIVATE_LABEL = /^[A-Z ]{0,40}PRIVATE KEY(?: BLOCK)?$/

function pemLabel (text: string, from: number): { label: string, end: number } | undefined {
  // Labels are short: looking no further than 64 characters keeps a run of headers linear.
  const close = text.slice(from, from + 64).indexOf('-----')
  return close === -1 ? undefined : { label: text.slice(from, from + close), end: from + close + 5 }
}

function pemEnd (text: string, from: number): number {
  for (let at = text.indexOf('-----END ', from); at !== -1; at = text.indexOf('-----END ', at + 9)) {
    const footer = pemLabel(text, at + 9)
    if (footer !== undefined && PRIVATE_LABEL.test(footer.label)) return footer.end
  }
  // A cut-off key (a truncated log, a truncated scan) is key material up to where the text stops.
  return text.length
}

export function findPrivateKeys (text: string): Span[] {
  const spans: Span[] = []
  let at = text.indexOf('-----BEGIN ')
  while (at !== -1) {
    const header = pemLabel(text, at + 11)
    let next = at + 11
    if (header !== undefined && PRIVATE_LABEL.test(header.label)) {
      next = pemEnd(text, header.end)
      spans.push({ start: at, end: next })
    }
    at = text.indexOf('-----BEGIN ', next)
  }
  return spans
}

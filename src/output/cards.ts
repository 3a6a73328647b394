/** Payment card numbers: a known brand prefix and length, and a valid Luhn check digit, plain or grouped. */
import { isDigit, isWordChar, runEnd, type Span } from './text.js'

// [prefix length, lowest prefix, highest prefix, card lengths]. Maestro's ranges overlap too much ordinary data to list.
const CARD_BRANDS: ReadonlyArray<readonly [number, number, number, readonly number[]]> = [
  [1, 4, 4, [13, 16, 19]], // Visa
  [2, 51, 55, [16]], [4, 2221, 2720, [16]], // Mastercard
  [2, 34, 34, [15]], [2, 37, 37, [15]], // American Express
  [4, 6011, 6011, [16, 19]], [3, 644, 649, [16, 19]], [2, 65, 65, [16, 19]], // Discover
  [4, 3528, 3589, [16, 17, 18, 19]], // JCB
  [3, 300, 305, [14, 16, 19]], [2, 36, 36, [14, 16, 19]], // Diners Club
  [2, 62, 62, [16, 17, 18, 19]] // UnionPay
]

function luhnValid (digits: string): boolean {
  let sum = 0
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2
    sum += d
  }
  return sum % 10 === 0
}

function isCardNumber (digits: string): boolean {
  if (digits.length < 13 || digits.length > 19 || /^(\d)\1*$/.test(digits)) return false
  const brand = CARD_BRANDS.some(([n, lo, hi, lengths]) => {
    const prefix = Number(digits.slice(0, n))
    return prefix >= lo && prefix <= hi && lengths.includes(digits.length)
  })
  return brand && luhnValid(digits)
}

/** A neighbour that makes the digits part of something else: a word, an identifier, a decimal. */
function joinsNumber (text: string, at: number, dotSide: number): boolean {
  return isWordChar(text.charCodeAt(at)) || (text[at] === '.' && isDigit(text.charCodeAt(dotSide)))
}

const isCardSeparator = (c: string | undefined): boolean => c === ' ' || c === '-'

/**
 * The group after `group` in a chain: runs of at most 6 digits joined by one repeated separator
 * (`4111 1111 1111 1111`, `3782-822463-10005`). A date before a card (`2024-01-15 4111 …`)
 * changes separator, and a longer run is no group: either ends the chain.
 */
function nextGroup (text: string, group: Span, sep: string): Span | undefined {
  if (text[group.end] !== sep || !isDigit(text.charCodeAt(group.end + 1))) return undefined
  const end = runEnd(text, group.end + 1, isDigit)
  return end - group.end - 1 > 6 ? undefined : { start: group.end + 1, end }
}

/**
 * The longest card in a chain that begins with `first`, with the chain's group that ends it. A
 * grouped card opens with a 4-digit group; looking no further than 19 digits keeps a chain of any
 * length linear, whatever digits come before or after the card (a date, an expiry, another card).
 */
function cardFrom (text: string, first: Span, sep: string): { card: Span, last: Span } | undefined {
  if (first.end - first.start !== 4 || joinsNumber(text, first.start - 1, first.start - 2)) return undefined
  let found: { card: Span, last: Span } | undefined
  let digits = ''
  for (let group: Span | undefined = first; group !== undefined; group = nextGroup(text, group, sep)) {
    digits += text.slice(group.start, group.end)
    if (digits.length > 19) break
    if (!joinsNumber(text, group.end, group.end + 1) && isCardNumber(digits)) found = { card: { start: first.start, end: group.end }, last: group }
  }
  return found
}

/** Every card in the chain that begins with `first`, earliest first; returns where the chain ends. */
function cardsInChain (text: string, first: Span, spans: Span[]): number {
  const sep = text[first.end]
  let end = first.end
  for (let group: Span | undefined = first; group !== undefined; group = nextGroup(text, group, sep)) {
    const found = cardFrom(text, group, sep)
    if (found !== undefined) {
      spans.push(found.card)
      group = found.last
    }
    end = group.end
  }
  return end
}

/** A digit run of 7 or more is a card on its own or not at all; shorter runs may be groups of a chain. */
export function findCardNumbers (text: string): Span[] {
  const spans: Span[] = []
  let i = 0
  while (i < text.length) {
    if (!isDigit(text.charCodeAt(i))) { i++; continue }
    const run = { start: i, end: runEnd(text, i, isDigit) }
    if (run.end - run.start <= 6 && isCardSeparator(text[run.end])) {
      i = cardsInChain(text, run, spans)
      continue
    }
    if (!joinsNumber(text, run.start - 1, run.start - 2) && !joinsNumber(text, run.end, run.end + 1) && isCardNumber(text.slice(run.start, run.end))) {
      spans.push(run)
    }
    i = run.end
  }
  return spans
}

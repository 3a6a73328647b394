/** Character classes and small scanning helpers the detectors share. */

export interface Span { start: number, end: number }
export type Detector = (text: string) => Span[]

export const isDigit = (c: number): boolean => c >= 48 && c <= 57
export const isAlnum = (c: number): boolean => isDigit(c) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
/** Word characters as regex `\b` sees them; NaN (outside the text) is not one. */
export const isWordChar = (c: number): boolean => isAlnum(c) || c === 95
export const isB64Url = (c: number): boolean => isWordChar(c) || c === 45

export function runEnd (text: string, from: number, inRun: (c: number) => boolean): number {
  let i = from
  while (i < text.length && inRun(text.charCodeAt(i))) i++
  return i
}

export function regexSpans (text: string, re: RegExp, valueLength = 0): Span[] {
  const spans: Span[] = []
  for (const m of text.matchAll(re)) {
    const end = m.index + m[0].length
    spans.push({ start: valueLength > 0 ? end - valueLength : m.index, end })
  }
  return spans
}

/** Shannon entropy in bits per UTF-16 unit: near 0 for `xxxx…`, about 4 for random hex, 5–6 for random base64. */
export function shannonEntropy (s: string): number {
  const counts = new Map<number, number>()
  for (let i = 0; i < s.length; i++) counts.set(s.charCodeAt(i), (counts.get(s.charCodeAt(i)) ?? 0) + 1)
  let bits = 0
  for (const n of counts.values()) bits -= (n / s.length) * Math.log2(n / s.length)
  return bits
}

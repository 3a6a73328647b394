/**
 * Detectors a policy defines (`output_rules.detectors`), matched by RE2JS: a pure-JavaScript port
 * of RE2, which has no backreferences or lookaround and runs each search in time linear in the
 * text it reads, whatever the pattern. No pattern can stall the event loop as `(a+)+$` stalls V8's
 * backtracking engine.
 *
 * Linear per search is not linear over all matches: after a match RE2 reads on while a longer one
 * is still possible, so finding every match of `a[^!]*!|a` in a run of `a`s reads the rest of the
 * run once per match. Matches are therefore searched for in windows of the text, which bounds
 * how far one search reads, and a detector stops after MAX_MATCHES: the rest of the text is then
 * one finding of its own, so a detector that matches everything fails closed rather than slow.
 */
import { RE2JS, RE2JSException } from 're2js'
import type { Span } from './text.js'

export type DetectorVerdict = 'allow' | 'redact' | 'quarantine'
export interface PatternDetectorSpec { id: string, pattern: string, verdict: DetectorVerdict }
export interface PatternDetector { readonly id: string, readonly verdict: DetectorVerdict, readonly regex: RE2JS }

/** A match longer than this may be cut short or missed: secrets are short. */
export const MAX_MATCH_LENGTH = 1024
/** Matches of one detector in one output before the rest of the output counts as one more. */
export const MAX_MATCHES = 1000
/** RE2's measure of a compiled pattern's size; each character of text costs up to this much work. */
export const MAX_PROGRAM_SIZE = 2000

/** Compiles a policy detector, or says why its pattern cannot be one. */
export function compilePatternDetector (spec: PatternDetectorSpec): { detector: PatternDetector } | { error: string } {
  let regex: RE2JS
  try {
    regex = RE2JS.compile(spec.pattern)
  } catch (err) {
    if (!(err instanceof RE2JSException)) throw err
    return { error: `pattern is not one RE2 accepts (no backreferences or lookaround): ${err.message}` }
  }
  if (regex.programSize() > MAX_PROGRAM_SIZE) {
    return { error: `pattern is too large (RE2 program size ${regex.programSize()}, at most ${MAX_PROGRAM_SIZE})` }
  }
  if (regex.test('')) return { error: 'pattern matches the empty text, so it would match everywhere' }
  return { detector: Object.freeze({ id: spec.id, verdict: spec.verdict, regex }) }
}

/** Looked at on RE2's DFA (fast, no positions) before a match is searched for in windows. */
const STRETCH = 64 * MAX_MATCH_LENGTH

// One character either side of a slice, so `\b`, `^` and `$` see the text's neighbours, not the cut.
const sliceAround = (text: string, at: number, length: number): { from: number, to: number, slice: string } => {
  const from = Math.max(0, at - 1)
  const to = Math.min(text.length, at + length + 1)
  return { from, to, slice: text.slice(from, to) }
}

/**
 * The first match that starts at or after `at` within the window there, in text offsets; or,
 * when there is none, where the next search may start. A window is tested on the DFA first.
 */
function searchWindow (text: string, regex: RE2JS, at: number): { span: Span, to: number } | { next: number } {
  const { from, to, slice } = sliceAround(text, at, 2 * MAX_MATCH_LENGTH)
  if (regex.test(slice)) {
    const m = regex.matcher(slice)
    if (m.find(at - from)) return { span: { start: from + m.start(), end: from + m.end() }, to }
  }
  // A match that starts up to MAX_MATCH_LENGTH into the window would have ended inside it.
  return { next: to === text.length ? to : at + MAX_MATCH_LENGTH + 1 }
}

/**
 * Every match of `detector` in `text`, leftmost first, as RE2 finds them, for matches of at most
 * MAX_MATCH_LENGTH characters. Stretches without a match are passed over on the DFA; a window
 * search reads at most 2 × MAX_MATCH_LENGTH characters, a window without a match moves on by
 * more than MAX_MATCH_LENGTH, and a match costs at most two window searches.
 */
export function findPatternMatches (text: string, detector: PatternDetector): Span[] {
  const spans: Span[] = []
  const regex = detector.regex
  // One pass on the DFA over the whole text: most outputs match no policy detector and stop here,
  // and only a text with a match anywhere can see `$` match at a window's cut.
  if (!regex.test(text)) return spans
  let at = 0
  let matches = 0
  // `lookAhead`: whether the DFA must first say a match lies ahead in the next stretch.
  for (let lookAhead = true; at < text.length;) {
    if (matches === MAX_MATCHES) {
      spans.push({ start: at, end: text.length })
      break
    }
    if (lookAhead) {
      const { to, slice } = sliceAround(text, at, STRETCH)
      lookAhead = false
      if (!regex.test(slice)) {
        // Nothing starts before `to - MAX_MATCH_LENGTH` that ends by `to`.
        at = to === text.length ? to : to - MAX_MATCH_LENGTH - 1
        lookAhead = true
        continue
      }
    }
    const found = searchWindow(text, regex, at)
    if ('next' in found) {
      at = found.next
      continue
    }
    const { span, to } = found
    const cut = span.end >= to && to < text.length
    // Far into the window, or reaching its end, a match may have lost a longer alternative (or
    // matched `$` at the cut): search again from where it starts. One that starts the window and
    // reaches its end is longer than 2 × MAX_MATCH_LENGTH, or seems so: it counts, cut (fail closed).
    if (span.start > at && (cut || span.start - at > MAX_MATCH_LENGTH)) {
      at = span.start
      continue
    }
    matches++
    if (span.end > span.start) spans.push(span)
    at = Math.max(span.end, span.start + 1)
    lookAhead = true
  }
  return spans
}

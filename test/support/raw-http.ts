/** Raw HTTP/1.1, for tests that talk to a listening app over a socket rather than through inject. */
import type { Answer } from './openapi.js'

/** Splits raw HTTP/1.1 answers (each with a Content-Length) into status, headers and body. */
export function readResponses (raw: Buffer): Answer[] {
  const answers: Answer[] = []
  let at = 0
  while (at < raw.length) {
    const headEnd = raw.indexOf('\r\n\r\n', at)
    if (headEnd < 0) throw new Error(`incomplete answer: ${raw.subarray(at).toString()}`)
    const [statusLine, ...lines] = raw.subarray(at, headEnd).toString('latin1').split('\r\n')
    const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]))
    const end = headEnd + 4 + Number(headers['content-length'])
    const body = raw.subarray(headEnd + 4, end).toString('utf8')
    answers.push({ statusCode: Number(statusLine.split(' ')[1]), headers, body, json: () => JSON.parse(body) })
    at = end
  }
  return answers
}

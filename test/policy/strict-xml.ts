/**
 * A small, strict reader for the XML the CLI writes (JUnit reports): one root element, tags that
 * nest, quoted attributes once each, only the five named entities and numeric ones, no stray `<`
 * or `&`. Throws on anything else. No DTDs, CDATA or processing instructions beyond the prolog.
 */
export interface XmlElement {
  name: string
  attrs: Record<string, string>
  children: XmlElement[]
  text: string
}

const NAME = '[A-Za-z_][A-Za-z0-9_.-]*'
const ATTR = new RegExp(`\\s+(${NAME})="([^"<]*)"`, 'y')
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }

function decode (raw: string, where: number): string {
  return raw.replace(/&([^;]*);|&/g, (m, name: string | undefined) => {
    if (name === undefined) throw new Error(`bare & at ${where}`)
    if (/^#[0-9]+$/.test(name)) return String.fromCodePoint(Number(name.slice(1)))
    if (/^#x[0-9a-fA-F]+$/.test(name)) return String.fromCodePoint(parseInt(name.slice(2), 16))
    const c = ENTITIES[name]
    if (c === undefined) throw new Error(`unknown entity ${m} at ${where}`)
    return c
  })
}

/** Parses `text`; throws with the offset of the first thing that is not well-formed. */
export function parseXml (text: string): XmlElement {
  // eslint-disable-next-line no-control-regex
  const bad = /[\u0000-\u0008\u000B\u000C\u000E-\u001F]/.exec(text)
  if (bad !== null) throw new Error(`control character at ${bad.index}`)
  let i = 0
  const prolog = /^<\?xml version="1\.0" encoding="UTF-8"\?>\n?/.exec(text)
  if (prolog !== null) i = prolog[0].length
  const stack: XmlElement[] = []
  let root: XmlElement | undefined
  while (i < text.length) {
    const lt = text.indexOf('<', i)
    const chunk = text.slice(i, lt === -1 ? text.length : lt)
    if (stack.length === 0 && chunk.trim() !== '') throw new Error(`text outside the root at ${i}`)
    if (stack.length > 0) stack[stack.length - 1].text += decode(chunk, i)
    if (chunk.includes('>')) throw new Error(`stray > at ${i}`)
    if (lt === -1) break
    i = lt
    const close = new RegExp(`</(${NAME})\\s*>`, 'y')
    close.lastIndex = i
    const closing = close.exec(text)
    if (closing !== null) {
      const open = stack.pop()
      if (open?.name !== closing[1]) throw new Error(`</${closing[1]}> closes <${open?.name ?? 'nothing'}> at ${i}`)
      i = close.lastIndex
      continue
    }
    const start = new RegExp(`<(${NAME})`, 'y')
    start.lastIndex = i
    const opening = start.exec(text)
    if (opening === null) throw new Error(`not a tag at ${i}`)
    if (root !== undefined && stack.length === 0) throw new Error(`a second root at ${i}`)
    const element: XmlElement = { name: opening[1], attrs: {}, children: [], text: '' }
    i = start.lastIndex
    for (;;) {
      ATTR.lastIndex = i
      const attr = ATTR.exec(text)
      if (attr === null) break
      if (Object.hasOwn(element.attrs, attr[1])) throw new Error(`attribute ${attr[1]} twice at ${i}`)
      element.attrs[attr[1]] = decode(attr[2], i)
      i = ATTR.lastIndex
    }
    const end = /\s*(\/?)>/y
    end.lastIndex = i
    const ended = end.exec(text)
    if (ended === null) throw new Error(`unterminated <${element.name}> at ${i}`)
    i = end.lastIndex
    if (stack.length > 0) stack[stack.length - 1].children.push(element)
    else root = element
    if (ended[1] !== '/') stack.push(element)
  }
  if (stack.length > 0) throw new Error(`<${stack[stack.length - 1].name}> is never closed`)
  if (root === undefined) throw new Error('no root element')
  return root
}

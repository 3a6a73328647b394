import t from 'tap'
import { parseXml } from './strict-xml.js'

t.test('the strict XML reader used on JUnit reports refuses what is not well-formed', async (t) => {
  t.match(parseXml('<?xml version="1.0" encoding="UTF-8"?>\n<a x="1 &amp; &#65;"><b/>t&lt;</a>'), { name: 'a', attrs: { x: '1 & A' }, children: [{ name: 'b' }], text: 't<' })
  for (const bad of ['<a>', '<a></b>', '<a x=1/>', '<a x="1" x="2"/>', '<a>&nope;</a>', '<a>&</a>', '<a>></a>', '<a/><b/>', 'x<a/>', '<a>\u0001</a>', '', '<a><</a>']) {
    t.throws(() => parseXml(bad), bad)
  }
})

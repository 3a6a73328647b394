/**
 * Found in an attack run: a body that names a key twice, a token put in the URL, an oversized
 * body sent chunked. Each must get a clear 4xx in the catalogue's shape and leave no secret behind.
 */
import { connect } from 'node:net'
import t from 'tap'
import { duplicateKey } from '../../src/http/json-body.js'
import { loggableUrl } from '../../src/http/request-log.js'
import { testApp } from '../helpers.js'

t.test('duplicateKey finds a key named twice in any object, as JSON.parse reads keys', async (t) => {
  const cases: Array<[string, string | undefined]> = [
    ['{"a":1,"b":2}', undefined],
    ['{"tenant_id":"b","tenant_id":"a"}', 'tenant_id'],
    ['{"labels":{"env":"prod","env":"dev"}}', 'env'],
    ['{"\\u0074enant_id":"b","tenant_id":"a"}', 'tenant_id'],
    ['{"a":{"x":1},"b":{"x":2}}', undefined],
    ['[{"x":1},{"x":2}]', undefined],
    ['{"a":[{"x":1,"x":2}]}', 'x'],
    ['{"s":"\\"a\\":1,\\"a\\":2","t":"{\\"k\\":1}"}', undefined],
    ['{"a":"x\\\\","a":"y"}', 'a'],
    ['{"":1,"":2}', ''],
    ['{"a":{},"b":[],"c":{"a":1}}', undefined],
    ['{"args":["a","a"]}', undefined],
    ['"just a string"', undefined]
  ]
  for (const [text, dup] of cases) t.equal(duplicateKey(text), dup, text)
})

t.test('a JSON body naming a key twice is refused with 400, whatever the route', async (t) => {
  const { app } = await testApp(t)
  const send = async (payload: string, url = '/check') => await app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload })
  const dup = await send('{"job_id":"j","topic":"job.mcp-bridge.read.x","tenant_id":"b","tenant_id":"default"}')
  t.equal(dup.statusCode, 400)
  t.match(dup.json(), { statusCode: 400, code: 'ARBITER_ERR_INVALID_JSON', error: 'Bad Request', message: /tenant_id.*more than once/ })
  t.equal((await send('{"job_id":"j","topic":"job.mcp-bridge.read.x","labels":{"env":"dev","env":"prod"}}')).statusCode, 400, 'nested too')
  t.equal((await send('{"job_id":"j","topic":"job.mcp-bridge.read.x","\\u0074opic":"job.x.y"}')).statusCode, 400, 'an escaped spelling is the same key')
  t.equal((await send('{"job_id":"j","topic":"job.mcp-bridge.read.x","labels":{"topic":"x"}}')).statusCode, 200, 'the same name in another object is fine')
  t.equal((await send('{"job_id":"j","topic":"job.mcp-bridge.read.x","__proto__":{"x":1}}')).statusCode, 400, 'prototype poisoning is still refused')
  t.equal((await send('{"job_id":"j",')).json().code, 'ARBITER_ERR_INVALID_JSON', 'broken JSON as before')
  t.equal((await send('{"status":"RUNNING","status":"SUCCEEDED"}', '/jobs/j/events')).statusCode, 400, 'job events too')
})

t.test('a token in the URL is never logged', async (t) => {
  const token = 'arb_' + 'A'.repeat(43)
  t.equal(loggableUrl(`/decisions?access_token=${token}&limit=5`), '/decisions?access_token=[redacted]&limit=5')
  t.equal(loggableUrl('/decisions?api_key=hunter2&topic=a'), '/decisions?api_key=[redacted]&topic=a')
  t.equal(loggableUrl(`/traces/${token}`), '/traces/arb_[redacted]', 'a token-shaped value anywhere')
  t.equal(loggableUrl('/decisions?tenant_id=acme'), '/decisions?tenant_id=acme', 'other values stay readable')
  t.equal(loggableUrl('/decisions?%61ccess_token=x'), '/decisions?%61ccess_token=[redacted]', 'an encoded name too')

  const ctx = await testApp(t)
  const res = await ctx.app.inject({ url: `/decisions?access_token=${token}&password=pw-in-url`, headers: { authorization: undefined } })
  t.equal(res.statusCode, 401, 'a token in the URL does not authenticate: tokens go in the Authorization header')
  const logged = ctx.logLines.join('\n')
  t.match(logged, /incoming request/, 'the request was logged')
  t.notOk(logged.includes(token.slice(4)), 'but not the token')
  t.notOk(logged.includes('pw-in-url'), 'nor a password')
})

t.test('an oversized body sent chunked gets the same 400 as one with a Content-Length', async (t) => {
  const { app, config, adminToken } = await testApp(t)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const chunk = Buffer.alloc(16 * 1024, 'x')
  const chunks = Math.ceil(config.bodyLimitBytes / chunk.length) + 4
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let raw = ''
    socket.on('data', (d) => { raw += String(d) })
    socket.on('error', (err) => { raw === '' ? reject(err) : resolve(raw) })
    socket.on('close', () => resolve(raw))
    socket.write('POST /check HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n' +
      `Authorization: Bearer ${adminToken}\r\n\r\n`)
    socket.write(`${(4).toString(16)}\r\n{"a"\r\n`)
    const more = (i: number): void => {
      if (i === chunks || socket.destroyed) { socket.end('0\r\n\r\n'); return }
      socket.write(`${chunk.length.toString(16)}\r\n`)
      socket.write(chunk)
      socket.write('\r\n', () => setImmediate(() => more(i + 1)))
    }
    more(0)
  })
  t.match(answer, /^HTTP\/1\.1 400 /, `answered 400 (${answer.split('\r\n')[0]})`)
  const body = answer.slice(answer.indexOf('\r\n\r\n') + 4)
  t.match(JSON.parse(body.includes('{') ? body.slice(body.indexOf('{'), body.lastIndexOf('}') + 1) : '{}'), { statusCode: 400, code: 'ARBITER_ERR_BODY_TOO_LARGE' })
})

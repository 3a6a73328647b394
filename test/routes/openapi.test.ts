import t from 'tap'
import { testApp } from '../helpers.js'

t.test('explore', async (t) => {
  const ctx = await testApp(t)
  console.log(ctx.app.printRoutes({ commonPrefix: false }))
  console.log(ctx.app.printRoutes())
  console.log(ctx.app.printRoutes({ commonPrefix: false, includeHooks: false, method: 'GET' } as any))
  const r = await ctx.app.inject({ method: 'DELETE', url: '/check' })
  console.log(r.statusCode, r.body)
  const r2 = await ctx.app.inject({ method: 'GET', url: '/check' })
  console.log(r2.statusCode, r2.body)
  const r3 = await ctx.app.inject({ method: 'HEAD', url: '/health' })
  console.log(r3.statusCode, r3.body, r3.headers)
  const cur = await ctx.app.inject({ method: 'GET', url: '/policies/current' })
  console.log(cur.body)
  const ch = await ctx.app.inject({ method: 'POST', url: '/check', payload: { job_id: 'u1', topic: 'job.unknown' } })
  console.log(ch.body)
  const closing = ctx.app.close()
  const r4 = await ctx.app.inject({ method: 'POST', url: '/check', payload: { job_id: 'u1', topic: 'job.unknown' } }).catch((e) => e)
  console.log(r4.statusCode, r4.body ?? r4, r4.headers)
  await closing
})

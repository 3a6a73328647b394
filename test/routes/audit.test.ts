import { createPublicKey } from 'node:crypto'
import t from 'tap'
import { checkCheckpoint } from '../../src/audit/checkpoint.js'
import { checkpointKeyId } from '../../src/audit/checkpoint-key.js'
import { sealRecord } from '../../src/audit/chain.js'
import { appendRecords, getHead } from '../../src/store/log-append.js'
import { testApp } from '../helpers.js'

t.test('checkpoints every N records, verifiable with the published public key alone', async (t) => {
  const ctx = await testApp(t, { env: { CHECKPOINT_EVERY: '5' } })
  for (let i = 0; i < 12; i++) {
    const res = await ctx.app.inject({ method: 'POST', url: '/check', payload: { job_id: `j${i}`, topic: 'job.mcp-bridge.read.x', tenant_id: 'acme' } })
    t.equal(res.statusCode, 200)
  }
  await ctx.app.checkpointer.idle()

  const keys = (await ctx.app.inject({ url: '/audit/keys' })).json().keys as Array<{ key_id: string, algorithm: string, public_key: string | null, valid_until: string | null }>
  const ed = keys.find((k) => k.algorithm === 'ed25519')
  t.ok(ed?.public_key?.startsWith('-----BEGIN PUBLIC KEY-----'), 'the Ed25519 public key is published')
  t.equal(checkpointKeyId(createPublicKey(ed?.public_key as string).export({ type: 'spki', format: 'der' })), ed?.key_id, 'its id derives from the key')
  t.match(keys.find((k) => k.algorithm === 'hmac-sha256'), { key_id: ctx.deps.key.id, public_key: null, valid_until: null }, 'the HMAC key is named, never shown')

  const res = await ctx.app.inject({ url: '/audit/checkpoints?tenant_id=acme' })
  t.equal(res.statusCode, 200)
  const checkpoints = res.json().checkpoints as Array<{ seq: number, head_hash: string }>
  t.same(checkpoints.map((c) => c.seq), [5, 10], 'one every 5 records')
  const publicKeys = new Map([[ed?.key_id as string, ed?.public_key as string]])
  for (const c of res.json().checkpoints) t.equal(checkCheckpoint(c, publicKeys), null, `checkpoint ${String(c.seq)} verifies`)
  t.equal(checkCheckpoint({ ...res.json().checkpoints[0], seq: 6 }, publicKeys), 'checkpoint fields do not match its signed statement')
  t.match(checkCheckpoint({ ...res.json().checkpoints[0], statement: res.json().checkpoints[0].statement.replace('"seq":5', '"seq":6') }, publicKeys), /does not verify/)

  // The timer's sweep covers the rest of the log (records of other instances too).
  await ctx.app.checkpointer.sweep()
  const after = (await ctx.app.inject({ url: '/audit/checkpoints?tenant_id=acme&after_seq=10' })).json().checkpoints
  const head = await getHead(ctx.db, 'acme')
  t.same(after.map((c: { seq: number, head_hash: string }) => [c.seq, c.head_hash]), [[12, head?.hash]])
  t.equal((await ctx.app.inject({ url: '/audit/checkpoints?tenant_id=acme&limit=1' })).json().checkpoints.length, 1)
  t.same((await ctx.app.inject({ url: '/audit/checkpoints?tenant_id=nobody' })).json().checkpoints, [])
  const bad = await ctx.app.inject({ url: '/audit/checkpoints?limit=0' })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().code, 'ARBITER_ERR_VALIDATION')
})

t.test('a graceful stop checkpoints what is not covered yet', async (t) => {
  const ctx = await testApp(t)
  const res = await ctx.app.inject({ method: 'POST', url: '/check', payload: { job_id: 'j', topic: 'job.mcp-bridge.read.x', tenant_id: 'acme' } })
  t.equal(res.statusCode, 200)
  t.same((await ctx.app.inject({ url: '/audit/checkpoints?tenant_id=acme' })).json().checkpoints, [], 'one record is far from CHECKPOINT_EVERY')
  await ctx.app.close()
  const { rows } = await ctx.db.query<{ seq: number }>("select seq::int as seq from audit_checkpoints where tenant_id = 'acme'")
  t.same(rows, [{ seq: 1 }])
})

t.test('records written around the writer are never vouched for by a checkpoint', async (t) => {
  const ctx = await testApp(t)
  for (const job of ['a', 'b']) {
    t.equal((await ctx.app.inject({ method: 'POST', url: '/check', payload: { job_id: job, topic: 'job.mcp-bridge.read.x', tenant_id: 'acme' } })).statusCode, 200)
  }
  const head = await getHead(ctx.db, 'acme') as { seq: number, hash: string }
  // Someone with the database role appends a well-chained record signed with a key of their own.
  const forged = sealRecord({ type: 'job.event', tenant_id: 'acme', trace_id: 't', job_id: 'a', at: new Date().toISOString(), actor: null, body: { status: 'SUCCEEDED' } },
    head.seq + 1, head.hash, { id: ctx.deps.key.id, secret: Buffer.alloc(32, 9) })
  await ctx.db.transaction(async (tx) => { t.ok(await appendRecords(tx, 'acme', head, [forged])) })

  await ctx.app.checkpointer.sweep()
  t.equal(ctx.app.checkpointer.refused, 1)
  t.same((await ctx.app.inject({ url: '/audit/checkpoints?tenant_id=acme' })).json().checkpoints, [], 'nothing signed over the forgery')

  // Arbiter's own records appended after the forgery do not launder it either.
  t.equal((await ctx.app.inject({ method: 'POST', url: '/check', payload: { job_id: 'c', topic: 'job.mcp-bridge.read.x', tenant_id: 'acme' } })).statusCode, 200)
  await ctx.app.checkpointer.sweep()
  t.equal(ctx.app.checkpointer.refused, 2)
  t.same((await ctx.app.inject({ url: '/audit/checkpoints?tenant_id=acme' })).json().checkpoints, [])
})

t.test('a writer checkpoints its own run without re-reading it, and still verifies what came before', async (t) => {
  const ctx = await testApp(t, { env: { CHECKPOINT_EVERY: '3' } })
  for (let i = 0; i < 7; i++) {
    t.equal((await ctx.app.inject({ method: 'POST', url: '/check', payload: { job_id: `r${i}`, topic: 'job.mcp-bridge.read.x' } })).statusCode, 200)
  }
  await ctx.app.checkpointer.idle()
  const seqs = (await ctx.app.inject({ url: '/audit/checkpoints' })).json().checkpoints.map((c: { seq: number }) => c.seq)
  t.ok(seqs.length >= 2, `checkpoints at ${seqs.join(', ')}`)
  t.equal(ctx.app.checkpointer.refused, 0)
})

/**
 * Witnesses: checkpoints published outside the database catch what the database's owner can do
 * to the log and its own checkpoints — delete the tail back to an earlier checkpoint — and what a
 * file holder can do to an export. Without a witness, verify says what it cannot prove.
 */
import { writeFileSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import t from 'tap'
import type { AuditEntry } from '../../src/audit/chain.js'
import { signCheckpoint } from '../../src/audit/checkpoint.js'
import { loadCheckpointKey, publicKeyPem } from '../../src/audit/checkpoint-key.js'
import { loadHmacKey } from '../../src/audit/hmac-key.js'
import { readWitness, witnessLine, witnessProblem } from '../../src/audit/witness.js'
import { publicKeyRing } from '../../src/audit/evidence.js'
import { auditCommand, type AuditIo } from '../../src/cli/audit.js'
import { systemClock } from '../../src/clock.js'
import { Checkpointer } from '../../src/ledger/checkpointer.js'
import { Witnesses } from '../../src/ledger/witness.js'
import { AuditWriter } from '../../src/ledger/writer.js'
import { openEmbedded } from '../../src/store/db.js'
import { migrate } from '../../src/store/migrate.js'
import { dataDir, tempDir } from '../helpers.js'

const quiet = { warn: () => {}, error: () => {} } as never

type Io = AuditIo & { lines: string[], errors: string[] }
function capture (): Io {
  const io: Io = { lines: [], errors: [], out: (l) => io.lines.push(l), err: (l) => io.errors.push(l) }
  return io
}

function entry (i: number): AuditEntry {
  return { type: 'job.event', tenant_id: 'acme', trace_id: `t${i}`, job_id: `j${i}`, at: new Date().toISOString(), actor: null, body: { status: 'RUNNING', i } }
}

t.test('a rollback to an earlier checkpoint, by the database\'s owner, is caught only with a witness', async (t) => {
  const dir = await dataDir(t)
  const witnessFile = path.join(dir, 'witness.jsonl')
  const db = await openEmbedded(path.join(dir, 'pgdata'))
  await migrate(db)
  const key = await loadHmacKey({ dataDir: dir })
  const checkpointKey = await loadCheckpointKey({ dataDir: dir })
  const witnesses = new Witnesses({ file: witnessFile, log: quiet })
  const checkpointer = new Checkpointer(db, checkpointKey, systemClock, { everyRecords: 2, intervalMs: 3_600_000, hmacKeys: new Map([[key.id, key.secret]]), onSigned: (c) => { witnesses.publish(c) } }, quiet)
  await checkpointer.start()
  const writer = new AuditWriter(db, key, { onCommit: (tenant, from, head) => { checkpointer.onCommit(tenant, from, head) } })
  for (let i = 1; i <= 6; i++) {
    await writer.append(entry(i), performance.now() + 20_000)
    await checkpointer.idle()
  }
  await witnesses.idle()
  const pem = path.join(dir, 'checkpoint.pem')
  writeFileSync(pem, publicKeyPem(checkpointKey))
  const ring = publicKeyRing([publicKeyPem(checkpointKey)])
  const witnessed = readWitness(readFileSync(witnessFile, 'utf8'), ring)
  t.same(witnessed.problems, [])
  t.same(witnessed.checkpoints.map((c) => c.seq), [2, 4, 6], 'each checkpoint is witnessed as it is signed')

  const run = async (args: string[]): Promise<{ code: number, io: Io }> => {
    const io = capture()
    return { code: await auditCommand(args, io, { DATA_DIR: dir }), io }
  }
  const whole = path.join(dir, 'whole.jsonl')
  await db.close()
  t.match(await run(['export', '--out', whole, '--witness', witnessFile]), { code: 0, io: { lines: [/wrote 6/, 'audit export: the log agrees with 3 witnessed checkpoints'] } })
  t.match(await run(['verify', whole, '--public-key', pem, '--witness', witnessFile]), { code: 0, io: { lines: [/: OK, and agrees with 3 witnessed checkpoints$/] } })

  // The owner deletes the tail back to the checkpoint at seq 2, the checkpoints after it, and moves the head back.
  const owned = await openEmbedded(path.join(dir, 'pgdata'))
  await owned.exec(`
    alter table audit_log disable trigger audit_log_no_update_delete;
    alter table audit_checkpoints disable trigger audit_checkpoints_no_update_delete;
    delete from audit_log where tenant_id = 'acme' and seq > 2;
    delete from audit_checkpoints where tenant_id = 'acme' and seq > 2;
    update audit_heads set seq = 2, hash = (select hash from audit_log where tenant_id = 'acme' and seq = 2) where tenant_id = 'acme';`)
  await owned.close()

  const cut = path.join(dir, 'cut.jsonl')
  t.match(await run(['export', '--out', cut]), { code: 0, io: { lines: [/scanned 2, wrote 2, failing 0/] } }, 'without a witness, the rolled-back log exports clean')
  const unwitnessed = await run(['verify', cut, '--public-key', pem])
  t.match(unwitnessed, { code: 0, io: { lines: [/: OK \(without --witness, a rollback of a whole log to an earlier checkpoint is not ruled out\)$/] } }, 'and verify says what it cannot prove')

  const exported = await run(['export', '--out', path.join(dir, 'again.jsonl'), '--witness', witnessFile])
  t.equal(exported.code, 1, 'with the witness, the export fails')
  t.match(exported.io.errors, [/log acme seq 4: the log stops at seq 2, behind the checkpoint witnessed for log acme at seq 4/, /seq 6: the log stops at seq 2/])
  const verified = await run(['verify', cut, '--public-key', pem, '--witness', witnessFile])
  t.equal(verified.code, 1, 'and so does verify, naming the checkpoint')
  t.match(verified.io.errors, [/log acme seq 4: the log stops at seq 2, behind the checkpoint witnessed for log acme at seq 4 \(signed /])
})

t.test('a witness catches a log rewritten at a witnessed seq, and refuses forged lines', async (t) => {
  const dir = tempDir(t)
  const key = await loadCheckpointKey({ dataDir: dir })
  const ring = publicKeyRing([publicKeyPem(key)])
  const c = signCheckpoint(key, { tenantId: 'acme', seq: 4, hash: `sha256:${'a'.repeat(64)}`, at: '2026-12-01T00:00:00.000Z' })
  t.equal(witnessProblem(c, { head: { seq: 9, hash: 'x' }, hashAt: () => c.head_hash }), null)
  t.equal(witnessProblem(c, { head: { seq: 9, hash: 'x' }, hashAt: () => undefined }), null, 'a record the view does not hold is not judged')
  t.match(witnessProblem(c, { head: { seq: 9, hash: 'x' }, hashAt: () => `sha256:${'b'.repeat(64)}` }), /the record at seq 4 is not the one in the checkpoint witnessed .*: the log was rewritten/)
  t.match(witnessProblem(c, { head: { seq: 4, hash: `sha256:${'b'.repeat(64)}` }, hashAt: () => undefined }), /rewritten/)
  t.match(witnessProblem(c, { head: undefined, hashAt: () => undefined }), /the log stops at seq 0, behind/)

  const forged = JSON.parse(witnessLine(c)) as Record<string, unknown>
  forged.seq = 3
  const read = readWitness([witnessLine(c), JSON.stringify(forged), '{"kind":', ''].join('\n'), ring)
  t.same(read.checkpoints.map((x) => x.seq), [4])
  t.same(read.problems, ['witness line 2: checkpoint fields do not match its signed statement', 'witness line 3: not a checkpoint'])
})

t.test('a URL witness gets each checkpoint, retried until it answers; a file witness that cannot write counts a failure', async (t) => {
  const http = await import('node:http')
  const got: unknown[] = []
  let refuse = 2
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (d) => { body += String(d) })
    req.on('end', () => {
      if (refuse-- > 0) return res.writeHead(503).end()
      got.push(JSON.parse(body))
      res.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close() })
  const port = (server.address() as { port: number }).port
  const key = await loadCheckpointKey({ dataDir: tempDir(t) })
  const failures: string[] = []
  const w = new Witnesses({ url: `http://127.0.0.1:${port}/witness`, file: path.join(tempDir(t), 'missing', 'dir', 'w.jsonl'), backoffMs: 10, log: quiet, onFailure: (kind) => failures.push(kind) })
  const c = signCheckpoint(key, { tenantId: 'acme', seq: 2, hash: `sha256:${'c'.repeat(64)}`, at: new Date().toISOString() })
  w.publish(c)
  await w.idle()
  t.same(got, [JSON.parse(witnessLine(c))], 'posted once it answered, after two refusals')
  t.same(failures, ['file'], 'the file that could not be written is a counted failure')
  refuse = 10
  const w2 = new Witnesses({ url: `http://127.0.0.1:${port}/witness`, attempts: 3, backoffMs: 5, log: quiet, onFailure: (kind) => failures.push(kind) })
  w2.publish(c)
  await w2.close()
  t.same(failures, ['file', 'url'], 'a URL that does not answer is a counted failure')
})

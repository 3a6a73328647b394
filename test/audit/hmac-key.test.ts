import { chmodSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { loadHmacKey } from '../../src/audit/hmac-key.js'
import { tempDir } from '../helpers.js'

t.test('generated on first use with mode 0600, then reused', async (t) => {
  const dataDir = path.join(tempDir(t), 'nested', 'data')
  const first = await loadHmacKey({ dataDir })
  t.equal(first.created, true)
  t.equal(statSync(first.path).mode & 0o777, 0o600)
  t.equal(first.secret.length, 32)
  t.match(first.id, /^hk_[0-9a-f]{16}$/)
  const again = await loadHmacKey({ dataDir })
  t.equal(again.created, false)
  t.equal(again.id, first.id)
  t.ok(again.secret.equals(first.secret))
})

t.test('two processes starting together end up with one key', async (t) => {
  const dataDir = tempDir(t)
  const keys = await Promise.all([1, 2, 3, 4].map(async () => await loadHmacKey({ dataDir })))
  t.equal(new Set(keys.map((k) => k.id)).size, 1)
  t.equal(keys.filter((k) => k.created).length, 1)
})

t.test('a key file named by the operator; unsafe or malformed files are refused', async (t) => {
  const dir = tempDir(t)
  const file = path.join(dir, 'key')
  writeFileSync(file, 'ab'.repeat(32), { mode: 0o600 })
  const k = await loadHmacKey({ dataDir: dir, keyFile: file })
  t.equal(k.created, false)
  t.equal(k.secret.toString('hex'), 'ab'.repeat(32))
  chmodSync(file, 0o644)
  await t.rejects(loadHmacKey({ dataDir: dir, keyFile: file }), /readable by group or others/)
  writeFileSync(path.join(dir, 'short'), 'abcd', { mode: 0o600 })
  await t.rejects(loadHmacKey({ dataDir: dir, keyFile: path.join(dir, 'short') }), /at least 32 bytes/)
  await t.rejects(loadHmacKey({ dataDir: dir, keyFile: path.join(dir, 'missing') }), { code: 'ENOENT' })
})

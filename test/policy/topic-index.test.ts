import t from 'tap'
import { compilePolicy, evaluate, normalizeJob } from '../../src/policy/index.js'
import type { CompiledPolicy } from '../../src/policy/compile.js'
import { globMatches } from '../../src/policy/glob.js'

// A deterministic pseudo-random generator, so a failure reproduces.
function rng (seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed / 0x7fffffff
  }
}

t.test('the index finds exactly the rules a scan of every rule finds', async (t) => {
  const rand = rng(42)
  const segs = ['a', 'b', 'c', 'job', 'read', 'write']
  const pick = (): string => segs[Math.floor(rand() * segs.length)]
  const pattern = (): string => {
    const n = 1 + Math.floor(rand() * 4)
    return Array.from({ length: n }, () => {
      const r = rand()
      return r < 0.15 ? '*' : r < 0.22 ? '**' : r < 0.27 ? `${pick()}*` : pick()
    }).join('.')
  }
  const rules = Array.from({ length: 400 }, (_, i) => {
    const topics = rand() < 0.1 ? '' : `topics: [${Array.from({ length: 1 + Math.floor(rand() * 2) }, () => JSON.stringify(pattern())).join(', ')}], `
    return `  - { id: r${i}, match: { ${topics}}, decision: ${rand() < 0.5 ? 'allow' : 'deny'} }`
  })
  const r = compilePolicy([{ file: 'p.yaml', text: `version: v1\nrules:\n${rules.join('\n')}\n` }])
  if (!r.ok) throw new Error(JSON.stringify(r.problems.slice(0, 3)))
  const policy: CompiledPolicy = r.policy
  let checked = 0
  for (let i = 0; i < 2000; i++) {
    const topic = Array.from({ length: 1 + Math.floor(rand() * 5) }, pick).join('.')
    const viaIndex = evaluate(policy, normalizeJob({ job_id: 'j', topic })).matched_rules
    const viaScan = policy.rules.filter((rule) => rule.topics === undefined || rule.topics.some((g) => globMatches(g, topic))).map((rule) => rule.id)
    if (JSON.stringify(viaIndex) !== JSON.stringify(viaScan)) {
      t.fail(`topic ${topic}: index ${viaIndex.join(',')} vs scan ${viaScan.join(',')}`)
      return
    }
    checked += viaScan.length
  }
  t.ok(checked > 2000, `compared ${checked} matches`)
})

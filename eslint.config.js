import neostandard from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    ignores: ['dist/**', 'data/**', 'coverage/**', '.tap/**', 'node_modules/**']
  }),
  // autocannon require()s the bench's per-request hook, so that one file is CommonJS TypeScript.
  ...neostandard({ ts: true, filesTs: ['**/*.cts'] })
]

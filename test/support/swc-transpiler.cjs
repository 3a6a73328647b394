/**
 * The test runner's TypeScript transpiler (ts-node's `transpiler` option, tsconfig.json): swc in
 * place of TypeScript's own, for every test process transpiles the whole of src/ again. ts-node's
 * built-in swc preset drops import attributes (`with { type: 'json' }`), which Node requires;
 * this keeps them. Types are not checked here: `npm run typecheck` does that.
 */
'use strict'
const swc = require('@swc/core')

const OPTIONS = {
  swcrc: false,
  sourceMaps: true,
  module: { type: 'es6' },
  jsc: {
    target: 'es2022',
    parser: { syntax: 'typescript' },
    keepClassNames: true,
    experimental: { keepImportAttributes: true }
  }
}

exports.create = function create () {
  return {
    transpile (input, { fileName }) {
      const { code, map } = swc.transformSync(input, { ...OPTIONS, filename: fileName })
      return { outputText: code, sourceMapText: map }
    }
  }
}

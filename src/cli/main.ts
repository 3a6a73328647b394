#!/usr/bin/env node
/** The `arbiter` command: serve, policy lint, policy test, audit export, audit verify, audit archive, keys. */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { ConfigError, loadConfig } from '../config.js'
import { PolicyLoadError } from '../live-policy/holder.js'
import { PACKAGE_ROOT } from '../paths.js'
import { serve } from '../server.js'
import { DataDirLocked } from '../store/data-dir-lock.js'
import { auditCommand } from './audit.js'
import { keysCommand } from './keys.js'
import type { Output } from './output.js'
import { POLICY_USAGE, policyCommand } from './policy.js'
import { REPLAY_USAGE, replayCommand } from './replay.js'

const USAGE = `usage:
  arbiter serve                      start the service (configured by environment variables)
  arbiter policy lint PATH           check a policy file or directory; exit 1 with file:line errors
  arbiter policy test PATH [SUITE…] [--format junit|json] [--out FILE]
                                     run *.test.yaml suites against the policy at PATH
  arbiter policy keygen --out FILE   make a policy signing key (private to FILE, public PEM to stdout)
  arbiter policy sign PATH --key FILE
                                     sign the policy at PATH (writes policy.sig) for POLICY_TRUSTED_KEYS
  arbiter policy verify-sig PATH --trusted-key PEM…
                                     check a policy's signature as the server would
  arbiter policy replay --candidate PATH [--since 7d] [--tenant T] [--fail-on SPEC] …
                                     what the candidate would have decided for recorded jobs
  arbiter audit export [--since 7d|ISO] [--until 12h|ISO] [--trace ID] [--tenant T] --out FILE
                                     verify the audit logs and export records with their proofs
  arbiter audit verify FILE… --public-key PEM [--hmac-key FILE…]
                                     verify exports offline; exit 1 naming the first bad seq (or,
                                     given archives then the live export, a gap between them),
                                     2 when records are consistent but not proven
  arbiter audit archive [--before DATE] --out FILE|DIR [--keep]
                                     archive the log's partitions before DATE (or
                                     AUDIT_RETENTION_MONTHS ago) to a verified file, then drop them
  arbiter keys create --principal ID --role ROLE… --tenant T… [--agent GLOB…]
                                     create a bearer key on the database; prints its token once
  arbiter keys list [--all]          list keys (never their tokens)
  arbiter keys revoke KEY_ID         revoke a key at once
  arbiter help [policy]              this, or the policy commands in more detail
  arbiter --version                  the version of this package`

const io: Output = { out: (l) => process.stdout.write(l + '\n'), err: (l) => process.stderr.write(l + '\n') }

async function main (argv: string[]): Promise<number> {
  // Before the parse below, which would refuse the subcommands' own options.
  if (argv[0] === 'audit') return await auditCommand(argv.slice(1), io, process.env)
  if (argv[0] === 'keys') return await keysCommand(argv.slice(1), io, process.env)
  if (argv[0] === 'policy' && argv[1] === 'replay') return await replayCommand(argv.slice(2), io, process.env)
  if (argv[0] === 'policy') return await policyCommand(argv.slice(1), io)
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, options: { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean' } } })
  const [command, topic] = positionals
  if (values.version === true) {
    io.out(packageVersion())
    return 0
  }
  if (command === 'help' && positionals.length <= 2 && (topic === undefined || topic === 'policy')) {
    io.out(topic === 'policy' ? `${POLICY_USAGE}\n${REPLAY_USAGE}` : USAGE)
    return 0
  }
  if (values.help === true || command === undefined) {
    io.out(USAGE)
    return command === undefined && values.help !== true ? 2 : 0
  }
  if (command === 'serve') {
    await serve(loadConfig(process.env))
    return -1
  }
  io.err(USAGE)
  return 2
}

/** The version in this package's package.json. */
function packageVersion (): string {
  return (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version
}

main(process.argv.slice(2)).then((code) => {
  if (code >= 0) process.exitCode = code
}, (err: unknown) => {
  if (err instanceof ConfigError || err instanceof PolicyLoadError || err instanceof DataDirLocked) io.err(`arbiter: ${err.message}`)
  else io.err(`arbiter: ${(err as Error).stack ?? String(err)}`)
  // Open database handles would keep a failed start alive.
  process.exit(1)
})

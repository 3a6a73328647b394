/**
 * `arbiter keys create|list|revoke`: key management on the database directly, as the
 * installation's operator, for bootstrap and recovery. With the embedded database, stop the
 * server first (one process at a time may open it); with a server, use the /keys API or this.
 */
import { parseArgs } from 'node:util'
import pino from 'pino'
import { createKey, listKeys, OPERATOR, revokeKey, type KeyView } from '../auth/keys.js'
import type { KeyKind, Role } from '../domain/roles.js'
import { loadConfig } from '../config.js'
import { ArbiterError } from '../errors/index.js'
import { openDatabase } from '../store/open.js'
import { DataDirLocked } from '../store/data-dir-lock.js'
import { migrate } from '../store/migrate.js'
import type { Output } from './output.js'

export const KEYS_USAGE = `usage:
  arbiter keys create --principal ID --role ROLE… --tenant T… [--agent GLOB…] [--kind person|service]
                      roles: scheduler, reviewer, auditor, admin; --tenant '*' for every tenant
                      --kind: who holds the key (default service); only a person's key votes or
                      makes grants, and a reviewer key must be a person's
  arbiter keys list [--all]          active keys (--all: revoked ones too)
  arbiter keys revoke KEY_ID`

/** `args` follow `arbiter keys`; the exit code: 0 done, 1 refused, 2 misused. */
export async function keysCommand (args: string[], io: Output, env: Record<string, string | undefined>): Promise<number> {
  const [sub, ...rest] = args
  let parsed
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        principal: { type: 'string' },
        role: { type: 'string', multiple: true },
        tenant: { type: 'string', multiple: true },
        agent: { type: 'string', multiple: true },
        kind: { type: 'string' },
        all: { type: 'boolean' }
      }
    })
  } catch (err) {
    io.err(`keys: ${(err as Error).message}`)
    io.err(KEYS_USAGE)
    return 2
  }
  const { values, positionals } = parsed
  const usable = (sub === 'create' && values.principal !== undefined && positionals.length === 0) ||
    (sub === 'list' && positionals.length === 0) || (sub === 'revoke' && positionals.length === 1)
  if (!usable) {
    io.err(KEYS_USAGE)
    return 2
  }
  const config = loadConfig(env)
  let db
  try {
    db = await openDatabase(config, pino({ level: 'warn' }, process.stderr))
  } catch (err) {
    // A running server owns the embedded database: a key written beside it would be lost.
    if (!(err instanceof DataDirLocked)) throw err
    io.err(`keys ${sub}: ${err.message}`)
    return 1
  }
  try {
    await migrate(db)
    if (sub === 'create') {
      const created = await createKey(db, OPERATOR, {
        principal_id: values.principal as string,
        roles: split(values.role) as Role[],
        tenants: split(values.tenant),
        ...(values.agent === undefined ? {} : { agents: split(values.agent) }),
        ...(values.kind === undefined ? {} : { kind: values.kind as KeyKind })
      })
      io.err(`created ${created.kind} key ${created.key_id} for ${created.principal_id}; the token below is shown this once:`)
      io.out(created.token)
    } else if (sub === 'list') {
      for (const k of await listKeys(db, OPERATOR, values.all === true)) io.out(describe(k))
    } else {
      io.out(describe(await revokeKey(db, OPERATOR, positionals[0])))
    }
    return 0
  } catch (err) {
    if (!(err instanceof ArbiterError)) throw err
    io.err(`keys ${sub}: ${err.message}`)
    return 1
  } finally {
    await db.close()
  }
}

/** `--role a,b --role c` → [a, b, c] */
function split (values: string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '')
}

function describe (k: KeyView): string {
  const state = k.revoked_at === null ? 'active' : `revoked ${k.revoked_at} by ${k.revoked_by ?? '?'}`
  return `${k.key_id}  ${k.principal_id}  kind=${k.kind}  roles=${k.roles.join(',')}  tenants=${k.tenants.join(',')}  agents=${k.agents.join(',')}  created ${k.created_at} by ${k.created_by}  ${state}`
}

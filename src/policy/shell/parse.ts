/**
 * A POSIX-ish shell parser that does no I/O and runs nothing: it finds every simple command
 * in a command line, wherever it sits (pipelines, lists, subshells, groups, substitutions,
 * function bodies, if/while/until/for), so a policy can judge each one. Input it cannot read
 * with confidence (here-documents, case, process substitution, deep nesting) is refused
 * rather than guessed at: a caller treats a refusal as the most suspicious outcome.
 */
import { ShellBudget } from './braces.js'
import { ShellSyntaxError } from './lexer.js'
import { Parser } from './parser.js'
import { newDefinitions, type Definitions, type SimpleCommand } from './ast.js'

export { newDefinitions, type Definitions, type SimpleCommand, type SourceWord } from './ast.js'

export { MAX_NESTING } from './parser.js'

export type ParseResult = { ok: true, commands: SimpleCommand[] } | { ok: false, error: string }

export interface ParseOptions {
  /** Nesting levels already entered, for a string parsed from inside another (`bash -c`). */
  depth?: number
  /** What brace expansion may still make, shared with the command line this one came from. */
  budget?: ShellBudget
  /** Where the functions and aliases it defines are recorded, shared with the command line it came from. */
  definitions?: Definitions
}

export const MAX_COMMAND_LENGTH = 16 * 1024

/** Parses a command line into its simple commands, in the order they would start. */
export function parseShell (source: string, options: ParseOptions = {}): ParseResult {
  if (source.length > MAX_COMMAND_LENGTH) return { ok: false, error: `command longer than ${MAX_COMMAND_LENGTH} characters` }
  try {
    const parser = new Parser(source, options.depth ?? 0, options.budget ?? new ShellBudget(), options.definitions ?? newDefinitions())
    parser.parseProgram()
    return { ok: true, commands: parser.commands }
  } catch (err) {
    if (err instanceof ShellSyntaxError) return { ok: false, error: err.message }
    /* c8 ignore start: nothing else is thrown; the nesting limit keeps the stack shallow */
    throw err
  }
  /* c8 ignore stop */
}

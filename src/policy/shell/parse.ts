/**
 * A POSIX-ish shell parser that does no I/O and runs nothing: it finds every simple command
 * in a command line, wherever it sits (pipelines, lists, subshells, groups, substitutions,
 * function bodies, if/while/until/for), so a policy can judge each one. Input it cannot read
 * with confidence (here-documents, case, process substitution, deep nesting) is refused
 * rather than guessed at: a caller treats a refusal as the most suspicious outcome.
 */
import { BraceBudget } from './braces.js'
import { ShellSyntaxError } from './lexer.js'
import { Parser } from './parser.js'

export { MAX_NESTING } from './parser.js'

export interface SourceWord {
  /** The word as written, quotes and all. */
  raw: string
  /** Where the word starts within the command's `text`. */
  offset: number
}

export interface SimpleCommand {
  /** The words after quote removal; expansions stay as written (`$HOME`, `$(pwd)`). */
  argv: string[]
  /** `argv`'s words as written, one for one (a word brace expansion made several of repeats). */
  words: SourceWord[]
  /** The command as written, from its first word, assignment or redirect to its last. */
  text: string
  /** Targets of output redirections (`>`, `>>`, `>|`, `&>`, `N>`, `<>`); fd duplications are left out. */
  redirects: string[]
  /** How many constructs (subshell, group, substitution, loop…) enclose the command. */
  depth: number
}

export type ParseResult = { ok: true, commands: SimpleCommand[] } | { ok: false, error: string }

export interface ParseOptions {
  /** Nesting levels already entered, for a string parsed from inside another (`bash -c`). */
  depth?: number
  /** What brace expansion may still make, shared with the command line this one came from. */
  budget?: BraceBudget
}

export const MAX_COMMAND_LENGTH = 16 * 1024

/** Parses a command line into its simple commands, in the order they would start. */
export function parseShell (source: string, options: ParseOptions = {}): ParseResult {
  if (source.length > MAX_COMMAND_LENGTH) return { ok: false, error: `command longer than ${MAX_COMMAND_LENGTH} characters` }
  try {
    const parser = new Parser(source, options.depth ?? 0, options.budget ?? new BraceBudget())
    parser.parseProgram()
    return { ok: true, commands: parser.commands }
  } catch (err) {
    if (err instanceof ShellSyntaxError) return { ok: false, error: err.message }
    /* c8 ignore start: nothing else is thrown; the nesting limit keeps the stack shallow */
    throw err
  }
  /* c8 ignore stop */
}

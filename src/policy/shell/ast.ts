/** What the parser finds in a command line: its simple commands, words as written beside them. */
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
  /** `NAME=value` words before the command (after quote removal), or the whole of a bare assignment. */
  assignments: string[]
  /** Run in the background (`&`) or as one of several commands of a pipeline. */
  async?: true
}

/** Functions and aliases a command line defines, wherever in it (`bash -c` and `eval` strings too). */
export interface Definitions {
  /** Each function by name; `forkBomb` when its body calls it in the background or in a pipeline. */
  functions: Map<string, { forkBomb: boolean }>
  aliases: Set<string>
}

export const newDefinitions = (): Definitions => ({ functions: new Map(), aliases: new Set() })

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
}

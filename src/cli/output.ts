/** Where a CLI command writes: its result lines (stdout) and everything said to a person (stderr). */
export interface Output {
  out: (line: string) => void
  err: (line: string) => void
}

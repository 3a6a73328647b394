export { analyzeCommand, COMMAND_CLASSES, DEFAULT_PROTECTED_PATHS, type AnalyzeOptions, type AnalyzedCommand, type CommandAnalysis, type CommandClass, type ForcedDelete } from './analyze.js'
export { parseShell, MAX_COMMAND_LENGTH, MAX_NESTING, type ParseOptions, type ParseResult, type SimpleCommand, type SourceWord } from './parse.js'

export { detectFindings, FINDING_TYPES, type Finding, type FindingType } from './detectors.js'
export {
  compilePatternDetector,
  findPatternMatches,
  MAX_MATCH_LENGTH,
  MAX_MATCHES,
  MAX_PROGRAM_SIZE,
  type DetectorVerdict,
  type PatternDetector,
  type PatternDetectorSpec
} from './pattern-detectors.js'
export {
  outputVerdict,
  redactOutput,
  scanOutput,
  summarizeFindings,
  VERDICTS,
  type FindingSummary,
  type FindingVerdicts,
  type OutputVerdict,
  type ScanOptions,
  type ScanResult,
  type VerdictTable
} from './scan.js'

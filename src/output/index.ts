export { detectFindings, FINDING_TYPES, type Finding, type FindingType } from './detectors.js'
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
  type ScanResult
} from './scan.js'

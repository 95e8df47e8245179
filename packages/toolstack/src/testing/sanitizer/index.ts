/** The sanitizer: findings about silent driver bugs, on by default in the test host. */
export { Sanitizer, sanitizerOf, type SanitizerOptions } from "./sanitizer.js";
export {
  SanitizerError,
  FINDING_HINTS,
  formatFinding,
  type Finding,
  type FindingKind,
  type TracePosition,
} from "./findings.js";
export { hostTest, hostTestWith, expectFinding, type HostFixtures } from "./vitest-fixtures.js";

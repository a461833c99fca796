/**
 * The evals domain: checks, LLM judges and evaluations (a dataset replayed against a candidate and compared
 * with the logged baseline), and metrics over time. README.md beside this file has the how and why.
 *
 * The door: what other folders use, by name (the composition, the CLI, the API's types). Everything else stays
 * inside the folder.
 */
export {
  type CheckDef,
  type CheckSpec,
  type CustomCheck,
  DEFAULT_FLOOR_FLAGS,
  type FloorCheckDef,
  type JudgeDef,
  loadChecksFile,
} from "./checks.ts";
export {
  type FloorClient,
  type FloorRunner,
  floorAnnotation,
  floorRunner,
  floorThroughProxy,
  isFloorCheck,
} from "./floor.ts";
export { computeGroupReport, type GroupReport } from "./group.ts";
export {
  baselineFirst,
  type ChatMessage,
  outcomeOf,
  pairwisePrompt,
  parsePairwise,
  renderConversation,
} from "./judge.ts";
export type { Bucket } from "./metrics.ts";
export { errorMessage, type Posted, postThroughProxy } from "./proxy-client.ts";
export type { Report } from "./report.ts";
export { estimateSchema } from "./responses.ts";
export { evalsRoutes as routes } from "./routes.ts";
export { type EvaluationTarget, type RunEvaluationInput, runEvaluation } from "./run-evaluation.ts";
export {
  candidateRequest,
  type Estimate,
  enforceMaxCost,
  type Progress,
  progressOf,
  type RunStatus,
  type RunView,
  resumeRun,
} from "./runs.ts";
export {
  type Candidate,
  type CreateEvalInput,
  candidateSchema,
  createEvalSchema,
  type JudgeInput,
  judgeSchema,
  type NamedCandidate,
  parseInput,
} from "./schemas.ts";
export { start } from "./start.ts";
export {
  type Started,
  type StartedGroup,
  type StartOptions,
  startEvaluation,
  startGroup,
} from "./start-evaluation.ts";
export { runState } from "./state.ts";
export { hash32, type Interval, seededRandom, wilson } from "./stats.ts";
export type { EvalWorker } from "./worker.ts";

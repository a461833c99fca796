/**
 * The experiments domain: A/B splits and shadow runs over the proxy's traffic, judged while they run, reported
 * with always-valid intervals, promoted with a person's approval. README.md beside this file has the how and why.
 *
 * The door: what other folders use, by name.
 */
export {
  changesOf,
  createExperiment,
  getExperiment,
  listExperiments,
  promoteExperiment,
  requireExperiment,
  rollbackExperiment,
  updateExperiment,
} from "./book.ts";
export { experimentReport, type ReportOptions, reportQuerySchema } from "./report.ts";
export {
  type Difference,
  type ExperimentReport,
  experimentReportSchema,
  type VariantReport,
  type Verdict,
} from "./responses.ts";
export { experimentsRoutes as routes } from "./routes.ts";
export {
  type CreateExperimentInput,
  createExperimentSchema,
  type Experiment,
  type ExperimentStatus,
  experimentSchema,
  type PromoteInput,
  promoteSchema,
  type UpdateExperimentInput,
  updateExperimentSchema,
  type Variant,
} from "./schemas.ts";

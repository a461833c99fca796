/**
 * The retention domain: calls' bodies and rows deleted by age in bounded batches, annotated calls and calls in a
 * dataset snapshot kept longer, and the space given back (SQLite). README.md beside this file has the how and why.
 */
export {
  type DependentRowCounts,
  emptyCounts,
  noDependentRows,
  type RetentionCounts,
  type RunOptions,
  runRetention,
} from "./expire.ts";
export { type Reclaimed, reclaimSpace } from "./reclaim.ts";
export { type RetentionService, start } from "./start.ts";

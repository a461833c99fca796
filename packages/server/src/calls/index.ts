/**
 * The calls domain: capturing, storing and reading LLM calls. It owns the `calls` table: other domains read it
 * through the functions exported here (reads.ts), not with their own SQL.
 *
 * The door: what other folders use, by name.
 */
export { admitCall, type CaptureMetrics } from "./capture-policy.ts";
export { experimentTagConditions, experimentTagSql, experimentTags } from "./experiment-tags.ts";
export { chainHooks, type InsertHook, insertCalls } from "./insert.ts";
export { costUsd } from "./pricing.ts";
export { configHash, configShape } from "./provenance.ts";
export { pseudonymize, pseudonymizeUnbuilt, storedUserId } from "./pseudonym.ts";
export {
  type CallView,
  callConditions,
  findCall,
  listCalls,
  toCallView,
} from "./queries.ts";
export {
  bodiesOf,
  callById,
  callListRowsByIds,
  lowRewardCalls,
  okResponseOf,
  previewsByTag,
  recentDurations,
  requestsOf,
  sessionCalls,
  sessionMembers,
  sessionsByActivity,
  startOfRecentCalls,
  unjudgedCallIds,
  unjudgedCalls,
} from "./reads.ts";
export {
  type CapturedCall,
  type Outcome,
  tagsOf,
  toCallRow,
  type UnbuiltCall,
  unbuiltRow,
} from "./record.ts";
export { CallRecorder, type Recorder } from "./recorder.ts";
export { callViewSchema } from "./responses.ts";
export { callRoutes as routes } from "./routes.ts";
export { type CallFilter, callFilterSchema } from "./schemas.ts";
export {
  type Channel,
  countsOut,
  type FromWriter,
  serveWriter,
  type ToWriter,
  WriterRecorder,
} from "./writer.ts";

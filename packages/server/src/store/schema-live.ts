/** Tables of the live evaluators domain (live/), as Kysely sees them (camelCase; snake_case in SQL). */

export interface LiveEvaluatorsTable {
  id: string;
  name: string;
  /** 1 while new calls are evaluated; 0 when paused (backfill still enqueues, the worker does not run them). */
  enabled: number;
  /** JSON: the `Evaluator` (live/schemas.ts) without its id. */
  definition: string;
  createdAt: number;
  updatedAt: number;
}

/** One call to evaluate by one evaluator; the primary key (evaluatorId, callId) makes it at most once. */
export interface LiveJobsTable {
  evaluatorId: string;
  callId: string;
  /** `queued`, `running`, `done`, `failed` or `skipped` (the daily cost cap was reached). */
  status: string;
  /** `live` (enqueued as the call was stored) or `backfill`. */
  origin: string;
  attempts: number;
  lease: string | null;
  /** While running: the lease's end; while queued: when it may be claimed (a retry's back-off). */
  lockedUntil: number | null;
  enqueuedAt: number;
  finishedAt: number | null;
  /** What its judge calls cost, USD. */
  costUsd: number | null;
  error: string | null;
}

export interface LiveTables {
  liveEvaluators: LiveEvaluatorsTable;
  liveJobs: LiveJobsTable;
}

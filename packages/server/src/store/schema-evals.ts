/** Tables of the evals domain, as Kysely sees them (camelCase; snake_case in SQL). JSON is stored as text. */

/** One evaluation: a dataset replayed against a candidate and scored by checks. */
export interface EvalRunsTable {
  id: string;
  /** The dataset's name, when the run was started from one (else the calls were given by id). */
  dataset: string | null;
  /** The dataset snapshot the items were taken from, so a result traces back to the exact rows. */
  snapshotId: string | null;
  /** JSON `Candidate`: model, upstream, system prompt override, parameters, extra headers. */
  candidate: string;
  /** JSON `CheckDef[]`, judges included. */
  checks: string;
  /** Seeds the per-item order of the two answers shown to a pairwise judge. */
  seed: number;
  /** Items one worker process runs at once for this run. */
  concurrency: number;
  /** 1 when a check is a function given in code (`runEvaluation`): only that process may run its items. */
  needsCode: number;
  /** `queued`, `running`, `done`, `failed` (every item failed) or `cancelled`. */
  status: string;
  total: number;
  /** Items done and failed, written when the run ends; while it runs, progress is counted from the items. */
  done: number;
  failed: number;
  /** USD estimated before starting, from the baseline calls' tokens at the candidate's price; null if unknown. */
  estimateUsd: number | null;
  /** USD spent (candidate and judge calls), written when the run ends. */
  costUsd: number | null;
  error: string | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  /** The group of runs started together, one per candidate (`candidates`); null for a run started alone. */
  groupId: string | null;
  /** The candidate's place in the group's request (0-based). */
  groupIndex: number | null;
  /** The candidate's name in its group. */
  candidateName: string | null;
}

/** One item of a run: a job claimed by a worker, leased until `lockedUntil`. */
export interface EvalItemsTable {
  runId: string;
  itemIndex: number;
  baselineCallId: string;
  candidateCallId: string | null;
  /**
   * The candidate call the latest attempt made, written when the proxy answered it: a later attempt (after a
   * crash, or a judge that failed) reuses it instead of paying for it again.
   */
  attemptCallId: string | null;
  /** `pending`, `running`, `done` or `failed`. */
  status: string;
  /** How many times a worker claimed it. */
  attempts: number;
  /** A pending item is not claimed before this (back-off); a running one is reclaimed after it (dead worker). */
  lockedUntil: number | null;
  /** The claim's token: only the worker holding it may finish the item. */
  lease: string | null;
  /** JSON `ItemResults`. */
  results: string | null;
  /** USD of the item's candidate and judge calls. */
  costUsd: number | null;
  error: string | null;
  finishedAt: number | null;
}

/** One check's verdict on one item, kept as a row so pass rates can be grouped in SQL (metrics over time). */
export interface EvalCheckResultsTable {
  runId: string;
  itemIndex: number;
  checkName: string;
  /** The candidate call judged. */
  callId: string | null;
  /** 1 pass, 0 fail; null when the check did not apply (no schema, no reference) or errored. */
  pass: number | null;
  score: number | null;
  createdAt: number;
}

export interface EvalsTables {
  evalRuns: EvalRunsTable;
  evalItems: EvalItemsTable;
  evalCheckResults: EvalCheckResultsTable;
}

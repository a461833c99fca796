import type { Store } from "../store/index.ts";
import { computeReport, type Report } from "./report.ts";
import { type Progress, progressOf, type RunView, requireRun } from "./runs.ts";

/** A run's state and report, as `GET /api/evals/:id` answers. */
export async function runState(
  store: Store,
  id: string,
): Promise<{ run: RunView; progress: Progress; report: Report }> {
  const run = await requireRun(store, id);
  const [progress, report] = await Promise.all([progressOf(store, id), computeReport(store, run)]);
  return { run, progress, report };
}

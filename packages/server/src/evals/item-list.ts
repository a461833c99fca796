/**
 * `GET /api/evals/{id}/items`: a page of a run's items in index order, each with its state and results.
 */
import { z } from "zod";
import type { Store } from "../store/index.ts";
import { readJson } from "../store/json.ts";
import { requireRun } from "./runs.ts";

const offsetError = "must be a whole number from 0 to 2147483647";
const limitError = "must be a whole number from 1 to 1000";

/** Offset and limit, bounded to the integer column they are compared with (PostgreSQL refused `1e+300` with a 500). */
export const itemsQuerySchema = z.object({
  offset: z.coerce
    .number({ error: offsetError })
    .int({ error: offsetError })
    .min(0, { error: offsetError })
    .max(2_147_483_647, { error: offsetError })
    .default(0),
  limit: z.coerce
    .number({ error: limitError })
    .int({ error: limitError })
    .min(1, { error: limitError })
    .max(1000, { error: limitError })
    .default(100),
});

/** A page of the run's items from `offset`; `nextOffset` is null on the last page. */
export async function listItems(store: Store, runId: string, page: z.infer<typeof itemsQuerySchema>) {
  const run = await requireRun(store, runId);
  const { offset, limit } = page;
  const rows = await store.db
    .selectFrom("evalItems")
    .selectAll()
    .where("runId", "=", run.id)
    .where("itemIndex", ">=", offset)
    .orderBy("itemIndex")
    .limit(limit)
    .execute();
  return {
    data: rows.map((r) => ({
      index: r.itemIndex,
      status: r.status,
      attempts: r.attempts,
      baselineCallId: r.baselineCallId,
      candidateCallId: r.candidateCallId,
      costUsd: r.costUsd,
      error: r.error,
      results: readJson(r.results),
    })),
    nextOffset: rows.length === limit ? offset + limit : null,
  };
}

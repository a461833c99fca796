import type { RouteMount } from "../api/index.ts";
import { jsonBody, parseOrThrow, queryOf } from "../api/validate.ts";
import { HttpError } from "../util/http-error.ts";
import {
  type CheckDef,
  cancelRun,
  createEvalSchema,
  createRun,
  EvalWorker,
  enforceMaxCost,
  listEvalsSchema,
  listRuns,
  loadChecksFile,
  planRun,
  registerWorker,
  requireRun,
  resumeRun,
  runState,
  timeseries,
  timeseriesSchema,
} from "./index.ts";

/**
 * The evals domain's routes under `/api`, and its worker: every server process runs evaluation items
 * (claimed from the store, so several instances share them) until it closes.
 */
export const evalsRoutes: RouteMount = (api, ctx) => {
  const declared: ReadonlyMap<string, CheckDef> = ctx.config.checksFile
    ? loadChecksFile(ctx.config.checksFile)
    : new Map();
  const worker = new EvalWorker(ctx);
  registerWorker(ctx.store, worker);
  worker.start();
  ctx.onClose(() => worker.stop());

  api.post("/evals", async (c) => {
    const body = parseOrThrow(createEvalSchema, await jsonBody(c));
    const plan = await planRun(ctx, body, { declared, dryRun: body.dryRun });
    if (body.dryRun) return c.json({ id: null, estimate: plan.estimate, checks: plan.checks });
    enforceMaxCost(plan.estimate, body.maxCostUsd);
    const run = await createRun(ctx.store, plan);
    worker.poke();
    return c.json({ id: run.id, estimate: plan.estimate, run }, 201);
  });

  api.get("/evals", async (c) => {
    const q = queryOf(c, listEvalsSchema);
    return c.json({ data: await listRuns(ctx.store, q) });
  });

  api.get("/evals/checks", (c) => c.json({ data: [...declared.values()] }));

  api.get("/evals/:id", async (c) => c.json(await runState(ctx.store, c.req.param("id"))));

  api.get("/evals/:id/items", async (c) => {
    const run = await requireRun(ctx.store, c.req.param("id"));
    const offset = Number(c.req.query("offset") ?? 0);
    const limit = Number(c.req.query("limit") ?? 100);
    // Bounded to the integer column it is compared with: PostgreSQL refused `1e+300` with a 500.
    if (!Number.isInteger(offset) || offset < 0 || offset > 2_147_483_647)
      throw new HttpError(400, "query field offset: must be a whole number from 0 to 2147483647", {
        field: "offset",
      });
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      throw new HttpError(400, "query field limit: must be a whole number from 1 to 1000", {
        field: "limit",
      });
    const rows = await ctx.store.db
      .selectFrom("evalItems")
      .selectAll()
      .where("runId", "=", run.id)
      .where("itemIndex", ">=", offset)
      .orderBy("itemIndex")
      .limit(limit)
      .execute();
    return c.json({
      data: rows.map((r) => ({
        index: r.itemIndex,
        status: r.status,
        attempts: r.attempts,
        baselineCallId: r.baselineCallId,
        candidateCallId: r.candidateCallId,
        costUsd: r.costUsd,
        error: r.error,
        results: r.results ? JSON.parse(r.results) : null,
      })),
      nextOffset: rows.length === limit ? offset + limit : null,
    });
  });

  api.post("/evals/:id/cancel", async (c) => c.json({ run: await cancelRun(ctx.store, c.req.param("id")) }));

  api.post("/evals/:id/resume", async (c) => {
    const run = await resumeRun(ctx.store, c.req.param("id"));
    worker.poke();
    return c.json({ run });
  });

  api.get("/metrics/timeseries", async (c) =>
    c.json(await timeseries(ctx.store, queryOf(c, timeseriesSchema))),
  );
};

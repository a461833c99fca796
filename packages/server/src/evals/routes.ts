import { z } from "zod";
import type { AppContext } from "../context.ts";
import { type RouteTable, reply, route } from "../http/index.ts";
import type { CheckDef } from "./checks.ts";
import { computeGroupReport } from "./group.ts";
import { itemsQuerySchema, listItems } from "./item-list.ts";
import { timeseries } from "./metrics.ts";
import {
  groupReportSchema,
  itemsPageSchema,
  runStateSchema,
  runViewSchema,
  startedSchema,
  timeseriesResponseSchema,
} from "./responses.ts";
import { cancelRun, listRuns, resumeRun } from "./runs.ts";
import { createEvalSchema, listEvalsSchema, timeseriesSchema } from "./schemas.ts";
import { startEvaluation, startGroup } from "./start-evaluation.ts";
import { runState } from "./state.ts";
import type { EvalWorker } from "./worker.ts";

/** What the evals routes use of the running server: the checks file's checks, and the worker to wake. */
export interface EvalsService {
  declared: ReadonlyMap<string, CheckDef>;
  worker: EvalWorker;
}

/** Evaluations and metrics over time under `/api`. */
export const evalsRoutes = (ctx: AppContext, { declared, worker }: EvalsService): RouteTable => [
  route({
    method: "post",
    path: "/evals",
    scope: "admin",
    summary: "Start an evaluation: replay a dataset against a candidate, scored by checks and judges",
    body: createEvalSchema,
    status: 201,
    response: startedSchema,
    describe:
      "the run, started (with `dryRun`: 200, the estimate and checks only); with `candidates`, the group and its runs",
    handler: async ({ body }) => {
      if (body.candidates) {
        const g = await startGroup(ctx, body, { declared, dryRun: body.dryRun, worker });
        if (g.group === null)
          return reply(200, {
            group: null,
            estimate: g.estimate,
            candidates: g.candidates,
            checks: g.checks,
          });
        return { group: g.group, estimate: g.estimate, candidates: g.candidates, runs: g.runs };
      }
      const started = await startEvaluation(ctx, body, { declared, dryRun: body.dryRun, worker });
      if (started.run === null)
        return reply(200, { id: null, estimate: started.estimate, checks: started.checks });
      return { id: started.run.id, estimate: started.estimate, run: started.run };
    },
  }),
  route({
    method: "get",
    path: "/evals",
    scope: "read",
    summary: "Evaluation runs, newest first",
    query: listEvalsSchema,
    response: z.object({ data: z.array(runViewSchema) }),
    handler: async ({ query }) => ({ data: await listRuns(ctx.store, query) }),
  }),
  route({
    method: "get",
    path: "/evals/checks",
    scope: "read",
    summary: "The checks declared in the checks file (INTERSEBD_CHECKS_FILE), which runs may name",
    response: z.object({ data: z.array(z.object({ name: z.string() }).loose()) }),
    handler: () => ({ data: [...declared.values()] }),
  }),
  route({
    method: "get",
    path: "/evals/groups/:id",
    scope: "read",
    summary: "Several candidates' report: each against the baseline, and against each other, with the best",
    response: groupReportSchema,
    errors: { 404: "no such group" },
    handler: ({ params }) => computeGroupReport(ctx.store, params.id),
  }),
  route({
    method: "get",
    path: "/evals/:id",
    scope: "read",
    summary: "A run's progress and report",
    response: runStateSchema,
    errors: { 404: "no such run" },
    handler: ({ params }) => runState(ctx.store, params.id),
  }),
  route({
    method: "get",
    path: "/evals/:id/items",
    scope: "read",
    summary: "A page of a run's items, in index order, with their results",
    query: itemsQuerySchema,
    response: itemsPageSchema,
    errors: { 404: "no such run" },
    handler: ({ params, query }) => listItems(ctx.store, params.id, query),
  }),
  route({
    method: "post",
    path: "/evals/:id/cancel",
    scope: "admin",
    summary: "Cancel a run",
    response: z.object({ run: runViewSchema }),
    errors: { 404: "no such run" },
    handler: async ({ params }) => ({ run: await cancelRun(ctx.store, params.id) }),
  }),
  route({
    method: "post",
    path: "/evals/:id/resume",
    scope: "admin",
    summary: "Resume a cancelled or interrupted run",
    response: z.object({ run: runViewSchema }),
    errors: { 404: "no such run" },
    handler: async ({ params }) => {
      const run = await resumeRun(ctx.store, params.id);
      worker.poke();
      return { run };
    },
  }),
  route({
    method: "get",
    path: "/metrics/timeseries",
    scope: "read",
    summary:
      "Reward, pass rate, cost, latency or volume over time, split by model, upstream or prompt version",
    query: timeseriesSchema,
    response: timeseriesResponseSchema,
    describe: "`{ buckets: [{ t, group, value, n }] }`",
    handler: ({ query }) => timeseries(ctx.store, query),
  }),
];

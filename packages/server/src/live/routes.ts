/** The live evaluators' API under `/api` (names: PRODUCT.md, "Names for what comes next"). */
import type { AppContext } from "../context.ts";
import { type RouteTable, route } from "../http/index.ts";
import { createEvaluator, listEvaluators, requireEvaluator, updateEvaluator, viewsOf } from "./book.ts";
import { backfill } from "./enqueue.ts";
import {
  backfillResultSchema,
  backfillSchema,
  createEvaluatorSchema,
  type Evaluator,
  evaluatorListSchema,
  evaluatorSchema,
  updateEvaluatorSchema,
} from "./schemas.ts";

export interface LiveService {
  /** Reads the rules again, so this instance enqueues by a change at once (others at their next refresh). */
  changed(): Promise<void>;
  /** Looks for jobs now (a backfill enqueued some). */
  poke(): void;
}

export const liveRoutes = (ctx: AppContext, service: LiveService): RouteTable => {
  const { store } = ctx;
  const one = async (e: Evaluator) =>
    (await viewsOf(store, [e]))[0] as NonNullable<Awaited<ReturnType<typeof viewsOf>>[0]>;
  return [
    route({
      method: "post",
      path: "/evaluators",
      scope: "admin",
      summary:
        "Create a live evaluator: a filter over calls, a sampling rate, checks and an absolute judge run on new " +
        "matching calls in the background",
      body: createEvaluatorSchema,
      status: 201,
      response: evaluatorSchema,
      errors: { 409: "name taken" },
      handler: async ({ body }) => {
        const e = await createEvaluator(store, body, ctx.config.upstreams);
        await service.changed();
        return one(e);
      },
    }),
    route({
      method: "get",
      path: "/evaluators",
      scope: "read",
      summary: "List live evaluators, oldest first, with their jobs' counters",
      response: evaluatorListSchema,
      handler: async () => ({ evaluators: await viewsOf(store, await listEvaluators(store)) }),
    }),
    route({
      method: "get",
      path: "/evaluators/:id",
      scope: "read",
      summary:
        "One live evaluator (by id or name) and its counters: queued, running, done, failed, skipped by cap, cost today",
      response: evaluatorSchema,
      errors: { 404: "no such evaluator" },
      handler: async ({ params }) => one(await requireEvaluator(store, params.id)),
    }),
    route({
      method: "post",
      path: "/evaluators/:id",
      scope: "admin",
      summary: "Change a live evaluator: filter, sample, checks, judge, caps; enabled: false pauses it",
      body: updateEvaluatorSchema,
      response: evaluatorSchema,
      errors: { 404: "no such evaluator", 409: "name taken" },
      handler: async ({ params, body }) => {
        const e = await updateEvaluator(store, params.id, body, ctx.config.upstreams);
        await service.changed();
        return one(e);
      },
    }),
    route({
      method: "post",
      path: "/evaluators/:id/backfill",
      scope: "admin",
      summary:
        "Enqueue the evaluator's sampled, matching calls of a time range (calls already evaluated are left)",
      body: backfillSchema,
      response: backfillResultSchema,
      errors: { 404: "no such evaluator" },
      handler: async ({ params, body }) => {
        const e = await requireEvaluator(store, params.id);
        const r = await backfill(store, e, body);
        service.poke();
        return r;
      },
    }),
  ];
};

/** The experiments API under `/api` (names: PRODUCT.md, "Names for what comes next"). */
import type { AppContext } from "../context.ts";
import { type CheckDef, normalizeChecks } from "../evals/checks.ts";
import { HttpError } from "../http/error.ts";
import { type RouteTable, route } from "../http/index.ts";
import {
  changesOf,
  createExperiment,
  listExperiments,
  promoteExperiment,
  requireExperiment,
  rollbackExperiment,
  updateExperiment,
} from "./book.ts";
import { experimentReport, reportQuerySchema } from "./report.ts";
import { experimentReportSchema } from "./responses.ts";
import {
  createExperimentSchema,
  experimentDetailSchema,
  experimentListSchema,
  experimentSchema,
  promoteSchema,
  rollbackSchema,
  type ShadowSettings,
  updateExperimentSchema,
} from "./schemas.ts";

/**
 * `changed` runs after every successful change, so this instance's routing sees it at once (other instances
 * see it at their next refresh).
 */
export const experimentsRoutes = (
  ctx: AppContext,
  changed: () => void | Promise<void> = () => {},
): RouteTable => {
  const { store } = ctx;
  // Awaited: once the answer is sent, this instance routes by the change.
  const after = async <T>(p: Promise<T>): Promise<T> => {
    const v = await p;
    await changed();
    return v;
  };
  /** A variant's upstream must be one this server sends to (checked again when routing: config can differ). */
  const knownUpstreams = (variants: Array<{ name: string; upstream?: string }>) => {
    variants.forEach((v, i) => {
      if (v.upstream !== undefined && !ctx.config.upstreams.has(v.upstream))
        throw new HttpError(
          400,
          `variants.${i}.upstream: ${v.upstream} is not a configured upstream (configured: ${[...ctx.config.upstreams.keys()].join(", ")}; INTERSEBD_UPSTREAMS)`,
          { field: `variants.${i}.upstream` },
        );
    });
  };
  /**
   * The shadow judge and checks, read with the evaluations' normalizers: a bad one is a 400 naming its field
   * here, not a shadow that silently judges nothing once the experiment runs (shadow-judge.ts reads them again).
   */
  const validShadow = (shadow: ShadowSettings | null | undefined) => {
    if (!shadow) return;
    const defs: Array<{ field: string; def: CheckDef }> = [];
    if (shadow.judge) {
      const { sample: _sample, ...judge } = shadow.judge;
      try {
        const [def] = normalizeChecks([{ type: "judge", ...judge }], { field: "shadow.judge" });
        if (def) defs.push({ field: "shadow.judge", def });
      } catch (err) {
        // One judge, not a list: `shadow.judge[0].scale` reads as `shadow.judge.scale`.
        if (!(err instanceof HttpError)) throw err;
        const unindex = (s: string) => s.replaceAll("shadow.judge[0]", "shadow.judge");
        throw new HttpError(err.status, unindex(err.message), {
          field: err.field === undefined ? "shadow.judge" : unindex(err.field),
        });
      }
    }
    if (shadow.checks?.length)
      normalizeChecks(shadow.checks, { field: "shadow.checks" }).forEach((def, i) => {
        defs.push({ field: `shadow.checks[${i}]`, def });
      });
    for (const { field, def } of defs)
      if (def.type === "judge" && def.upstream !== undefined && !ctx.config.upstreams.has(def.upstream))
        throw new HttpError(
          400,
          `${field}.upstream: ${def.upstream} is not a configured upstream (configured: ${[...ctx.config.upstreams.keys()].join(", ")}; INTERSEBD_UPSTREAMS)`,
          { field: `${field}.upstream` },
        );
  };
  return [
    route({
      method: "post",
      path: "/experiments",
      scope: "admin",
      summary: "Create an experiment: variants with weights, the unit of assignment, what it applies to",
      body: createExperimentSchema,
      status: 201,
      response: experimentSchema,
      errors: { 409: "name taken" },
      handler: ({ body }) => {
        knownUpstreams(body.variants);
        validShadow(body.shadow);
        return after(createExperiment(store, body));
      },
    }),
    route({
      method: "get",
      path: "/experiments",
      scope: "read",
      summary: "List experiments, newest first (the SDKs read definitions here)",
      response: experimentListSchema,
      handler: async () => ({ experiments: await listExperiments(store) }),
    }),
    route({
      method: "get",
      path: "/experiments/:name",
      scope: ["read", "ingest"],
      summary: "One experiment's definition and every change to it (who, when, what)",
      response: experimentDetailSchema,
      errors: { 404: "no such experiment" },
      handler: async ({ params }) => ({
        ...(await requireExperiment(store, params.name)),
        changes: await changesOf(store, params.name),
      }),
    }),
    route({
      method: "get",
      path: "/experiments/:name/report",
      scope: "read",
      summary:
        "The report: per variant volume, rewards, checks, pairwise, errors, cost, latency; differences to the " +
        "control with always-valid intervals (confidence sequences), verdicts, the sample-ratio check",
      query: reportQuerySchema,
      response: experimentReportSchema,
      errors: { 404: "no such experiment" },
      handler: ({ params, query }) => experimentReport(store, params.name, query),
    }),
    route({
      method: "post",
      path: "/experiments/:name",
      scope: "admin",
      summary: "Change an experiment: status, weights (sticky where possible), match, shadow settings",
      body: updateExperimentSchema,
      response: experimentSchema,
      errors: { 404: "no such experiment", 409: "promoted, or changed meanwhile" },
      handler: ({ params, body }) => {
        validShadow(body.shadow);
        return after(updateExperiment(store, params.name, body));
      },
    }),
    route({
      method: "post",
      path: "/experiments/:name/promote",
      scope: "admin",
      summary:
        "Promote a variant, with the name of the person who approved it: all matching traffic goes to it",
      body: promoteSchema,
      response: experimentSchema,
      errors: { 404: "no such experiment", 409: "already promoted" },
      handler: ({ params, body }) => after(promoteExperiment(store, params.name, body)),
    }),
    route({
      method: "post",
      path: "/experiments/:name/rollback",
      scope: "admin",
      summary: "Undo a promotion: the experiment stops and matching traffic goes back to the control",
      body: rollbackSchema,
      response: experimentSchema,
      errors: { 404: "no such experiment", 409: "not promoted" },
      handler: ({ params, body }) => after(rollbackExperiment(store, params.name, body)),
    }),
  ];
};
